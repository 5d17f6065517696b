#!/usr/bin/env python3
"""Checks elicence's transparency log from outside, with the Python standard library
(and `cryptography` for the Ed25519 checkpoint signature). Written from
docs/TRANSPARENCY.md, not from the service's code.

    python3 docs/tlog_verify.py https://verify.example.gov.cn [OLD_CHECKPOINT_FILE]

Fetches the latest checkpoint and the signed key list, checks the checkpoint's signature,
checks inclusion proofs of leaves of the first tile (their hashes read from the tile) against it, and, given an
older checkpoint, the consistency proof from it. Exits 1 on the first failure.
"""
import base64, hashlib, json, struct, sys, urllib.request


def get(base, path):
    import time, urllib.error
    for _ in range(30):
        try:
            with urllib.request.urlopen(base.rstrip("/") + path) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            if e.code != 429:  # the per-client rate limit: wait as told
                raise
            time.sleep(int(e.headers.get("Retry-After", "1")))
    raise SystemExit(f"{path}: still rate-limited")


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def verify_inclusion(index, size, leaf_hash, path, root):  # RFC 9162 2.1.3.2
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1; sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, path, first_hash, second_hash):  # RFC 9162 2.1.4.2
    if first > second:
        return False
    if first == second or first == 0:
        return not path and (first == 0 or first_hash == second_hash)
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_hash] + path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1; sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node(c, fr); sr = node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1; sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1; sn >>= 1
    return sn == 0 and fr == first_hash and sr == second_hash


def open_checkpoint(note, public_keys):
    """C2SP signed note: body, blank line, '— <name> <base64(key id ‖ signature)>' lines."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    text, sep, sigs = note.partition("\n\n")
    assert sep, "no signature block"
    body = (text + "\n").encode()
    origin, size, root = text.split("\n")[:3]
    for line in sigs.strip("\n").split("\n"):
        dash, name, blob = line.split(" ")
        raw = base64.b64decode(blob)
        if dash != "\u2014" or name != origin or len(raw) != 68:
            continue
        for pk in public_keys:
            key_id = hashlib.sha256(origin.encode() + b"\n" + b"\x01" + pk).digest()[:4]
            if key_id == raw[:4]:
                Ed25519PublicKey.from_public_bytes(pk).verify(raw[4:], body)  # raises if bad
                return origin, int(size), base64.b64decode(root)
    raise SystemExit("checkpoint: no signature by a published key")


def main():
    base = sys.argv[1]
    keys = json.loads(get(base, "/api/v1/keys"))
    public_keys = [bytes.fromhex(k["public_key_hex"]) for k in keys["keys"]]
    note = get(base, "/log/checkpoint").decode()
    origin, size, root = open_checkpoint(note, public_keys)
    print(f"checkpoint of {origin}: {size} leaves, root {root.hex()}: signature OK")
    width = min(size, 256)
    tile = get(base, "/log/tile/0/000" + ("" if width == 256 else f".p/{width}"))
    assert len(tile) == 32 * width
    for i in sorted({0, 1, width // 2, width - 1} & set(range(width))):
        p = json.loads(get(base, f"/api/v1/log/inclusion?leaf_index={i}&tree_size={size}"))
        leaf = tile[32 * i: 32 * i + 32]
        path = [base64.b64decode(h) for h in p["hashes"]]
        if not verify_inclusion(i, size, leaf, path, root):
            raise SystemExit(f"leaf {i}: inclusion proof FAILED")
    print(f"leaves 0, 1, {width // 2}, {width - 1} of the first tile: inclusion proofs OK")
    if len(sys.argv) > 2:
        old_origin, old_size, old_root = open_checkpoint(open(sys.argv[2]).read(), public_keys)
        assert old_origin == origin, "another log"
        p = json.loads(get(base, f"/api/v1/log/consistency?old_size={old_size}&new_size={size}"))
        path = [base64.b64decode(h) for h in p["hashes"]]
        if not verify_consistency(old_size, size, path, old_root, root):
            raise SystemExit(f"consistency {old_size} -> {size} FAILED: the log was cut, rewritten or forked")
        print(f"consistency {old_size} -> {size}: OK")


if __name__ == "__main__":
    main()
