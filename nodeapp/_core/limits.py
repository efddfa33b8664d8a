"""Size limits enforced everywhere bytes cross a trust boundary (units last in names)."""

ENTRY_BYTES_MAX = 1024 * 1024  # 1 MiB per entry
LINK_TAG_BYTES_MAX = 1024  # 1 KiB per link tag
MEMBRANE_PROOF_BYTES_MAX = 8 * 1024
ACTION_BYTES_MAX = 16 * 1024  # an action never carries entry content, only hashes and a tag
CBOR_DEPTH_MAX = 32
CLOCK_DRIFT_MAX_US = 5 * 60 * 1_000_000  # received actions may be at most 5 min in our future
