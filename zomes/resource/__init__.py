"""Resource zome: specifications with embedded governance rules, economic resources."""
