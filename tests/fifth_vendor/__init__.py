"""Ledgerly, a made-up PSA that exists only in the test suite: the proof that a fifth vendor is
one provider file and one emulator file, each registered by one line (tests/test_fifth_vendor.py).
"""
