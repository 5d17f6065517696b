#!/usr/bin/env python3
"""Verify the worked example in docs/VERIFYING.md with a standard Ed25519 library.

    pip install cryptography
    python3 docs/verify_example.py docs/verifying-example.json

Uses nothing from elicence: only the public key, the signed bytes and the signature.
"""
import hashlib
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def jcs(value):
    """RFC 8785 for the JSON elicence records use (strings, integers, null, arrays,
    objects with ASCII keys): sorted keys, no whitespace, UTF-8, minimal escaping."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def main(path):
    ex = json.load(open(path, encoding="utf-8"))
    public_key = bytes.fromhex(ex["public_key_hex"])
    record = bytes.fromhex(ex["signed_record_hex"])
    signature = bytes.fromhex(ex["signature_hex"])

    # 1. The key id is the first 8 bytes of SHA-256 over the raw public key.
    assert hashlib.sha256(public_key).hexdigest()[:16] == ex["key_id"], "key id mismatch"
    # 2. The signature is Ed25519 over the exact record bytes (raises if not).
    Ed25519PublicKey.from_public_bytes(public_key).verify(signature, record)
    # 3. The digest is SHA-256 of the same bytes.
    assert hashlib.sha256(record).hexdigest() == ex["digest_sha256_hex"], "digest mismatch"
    # 4. The bytes are canonical JSON, and name the key that signed them.
    parsed = json.loads(record)
    assert jcs(parsed) == record, "record bytes are not canonical JSON"
    assert parsed["key_id"] == ex["key_id"]
    print("genuine:", parsed["licence_name"], parsed["identifier"], parsed["holder_name"])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/verifying-example.json")
