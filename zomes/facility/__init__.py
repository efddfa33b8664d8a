"""Facility verification: makerspaces register equipment and certifications; authorised
verifiers move them through pending / verified / suspended / revoked."""
