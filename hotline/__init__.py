"""konex hotline: telephony and channels."""
