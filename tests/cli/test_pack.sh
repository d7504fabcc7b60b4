#!/usr/bin/env bash
# dfu-mgr pack / inspect / verify-bundle / sign / keygen end to end on the vector files.
. "$(dirname "$0")/lib.sh"

# --- the vector ELF splits into payloads identical to objcopy's, imgtool's layout ---
run pack --version 2.3.0+4 --key "$D/key-A.pem" -o "$T/b" "$D/app.elf"
expect_rc 0 "pack app.elf into a signed bundle"
expect_out "0x0000c200..0x0000e31c     8476 bytes: .text .rodata .data" "split reports the internal region"
expect_out "0x10120000..0x1016b02c   307244 bytes: .extflash_text .extflash_rodata" "split reports the QSPI region"
expect_true "image 0 payload == objcopy internal.bin" cmp <(tail -c +513 "$T/b/internal.bin" | head -c 8476) "$D/internal.bin"
expect_true "image 1 payload == objcopy extflash.bin" cmp <(tail -c +513 "$T/b/qspi.bin" | head -c 307244) "$D/extflash.bin"
# header + payload + protected DEPENDENCY TLV: identical to what imgtool made from the same split
expect_true "image 0 = imgtool's internal-signed.bin up to the unprotected TLVs" cmp -n $((0x2330)) "$T/b/internal.bin" "$D/internal-signed.bin"
# image 1 depends on image 0 too (the mutual pair rule): imgtool made extflash-signed.bin without a
# dependency, so the byte-for-byte comparison is with a bundle packed the same way (--no-dependency)
run pack --version 2.3.0+4 --no-dependency --key "$D/key-A.pem" -o "$T/nodep" "$D/app.elf"
expect_rc 0 "pack app.elf without dependencies"
expect_true "image 1 = imgtool's extflash-signed.bin up to the unprotected TLVs" cmp -n $((0x200 + 307244)) "$T/nodep/qspi.bin" "$D/extflash-signed.bin"
expect_true "with the pair rule, image 1 differs from it only in ih_protect_tlv_size" cmp <(head -c $((0x200 + 307244)) "$T/b/qspi.bin" | od -An -tx1 -v | sed '1s/^\(\( [0-9a-f][0-9a-f]\)\{10\}\) 14 00/\1 PT PT/') <(head -c $((0x200 + 307244)) "$D/extflash-signed.bin" | od -An -tx1 -v | sed '1s/^\(\( [0-9a-f][0-9a-f]\)\{10\}\) 00 00/\1 PT PT/')
run inspect "$T/b/qspi.bin"
expect_out "depends on     image 0 >= 2.3.0+4" "image 1 depends on image 0 at the same version"
run inspect --key "$D/key-A-pub.pem" "$T/b/internal.bin" "$T/b/qspi.bin"
expect_rc 0 "both packed images parse back and verify with key A"
expect_out "depends on     image 1 >= 2.3.0+4" "image 0 depends on image 1"
expect_out "signature      valid (trusted key)" "signature valid"
run verify-bundle --key "$D/key-A-pub.pem" "$T/b"
expect_rc 0 "verify-bundle with key A"
expect_out "valid bundle" "verify-bundle says valid"

# --- unsigned images are byte-identical to imgtool's ---
run pack --version 2.3.0+4 --no-dependency -o "$T/u" --internal "$D/payload-int.bin" --qspi "$D/extflash.bin"
expect_rc 0 "pack raw payloads, unsigned"
expect_true "unsigned image 0 == imgtool int-unsigned.bin byte for byte" cmp "$T/u/internal.bin" "$D/int-unsigned.bin"
expect_out "(UNSIGNED)" "pack says the bundle is unsigned"
run verify-bundle --key "$D/key-A-pub.pem" "$T/u"
expect_rc 1 "unsigned bundle fails verification"
expect_err "manifest.json.sig" "and names the missing signature"
run verify-bundle --allow-unsigned --key "$D/key-A-pub.pem" "$T/u"
expect_rc 1 "with a trusted key, --allow-unsigned does not let an unsigned bundle through"
expect_err "does not change that" "and says so"
DFUMGR_KEYDIR="$T/no-such-keydir" run verify-bundle --allow-unsigned "$T/u"
expect_rc 0 "without any trusted key, --allow-unsigned accepts it"
run sign --key "$D/key-A.pem" "$T/u"
expect_rc 0 "sign an unsigned bundle"
expect_out "image 0  internal.bin" "sign prints what it signs"
expect_out "$(sha256sum "$T/u/qspi.bin" | cut -c1-64)" "with each file's SHA-256"
run verify-bundle --key "$D/key-A-pub.pem" "$T/u"
expect_rc 1 "signed later, its unsigned images still fail with a trusted key"
expect_err "every image must be" "because every image must be signed"

# --- a payload that leaves room for the header (Zephyr's MCUboot link): the header goes there ---
{ head -c 512 /dev/zero; cat "$D/payload-int.bin"; } >"$T/roomy.bin"
run pack --version 2.3.0+4 --no-dependency -o "$T/r" --internal "$T/roomy.bin" --qspi "$D/extflash.bin"
expect_rc 0 "pack a payload with room for the header"
expect_true "the payload is not shifted: it stays at 0x200" cmp <(tail -c +513 "$T/r/internal.bin" | head -c 204813) "$D/payload-int.bin"
expect_true "the header room keeps its zeros (imgtool without --pad-header)" cmp <(head -c 512 "$T/r/internal.bin" | tail -c 480) <(head -c 480 /dev/zero)
run inspect "$T/r/internal.bin"
expect_rc 0 "and the image parses and hashes"
expect_out "payload        0x200..0x3220d (204813 bytes)" "img_size is the code only"
run pack --version 2.3.0+4 --no-dependency --pad-header -o "$T/r2" --internal "$T/roomy.bin" --qspi "$D/extflash.bin"
expect_true "--pad-header forces a prepended header" test "$(stat -c %s "$T/r2/internal.bin")" -gt "$(stat -c %s "$T/r/internal.bin")"

# --- another key fails ---
run keygen -o "$T/other.pem"
expect_rc 0 "keygen"
expect_true "private key is mode 0600" test "$(stat -c %a "$T/other.pem")" = 600
expect_true "public key written" grep -q "BEGIN PUBLIC KEY" "$T/other.pub.pem"
run keygen -o "$T/other.pem"
expect_rc 73 "keygen never overwrites a key"
run verify-bundle --key "$T/other.pub.pem" "$T/b"
expect_rc 1 "verify-bundle with another key fails"
mkdir -p "$T/keys" && cp "$T/other.pub.pem" "$D/key-A-pub.pem" "$T/keys/"
run verify-bundle --keys "$T/keys" "$T/b"
expect_rc 0 "a key directory holding key A verifies"

# --- tampering is caught and named ---
cp -r "$T/b" "$T/t"
printf '\x01' | dd of="$T/t/qspi.bin" bs=1 seek=4096 conv=notrunc status=none
run verify-bundle --key "$D/key-A-pub.pem" "$T/t"
expect_rc 1 "a flipped byte in image 1 fails"
expect_err "qspi.bin" "the error names the file"
cp "$T/b/qspi.bin" "$T/t/qspi.bin"
sed -i 's/"release": "2.3.0"/"release": "2.3.1"/' "$T/t/manifest.json"
run verify-bundle --key "$D/key-A-pub.pem" "$T/t"
expect_rc 1 "an edited manifest fails the signature"
rm -rf "$T/t" && cp -r "$T/b" "$T/t" && rm "$T/t/qspi.bin" && ln -s "$T/b/qspi.bin" "$T/t/qspi.bin"
run verify-bundle --key "$D/key-A-pub.pem" "$T/t"
expect_rc 65 "a symlinked image is refused"
expect_err "symbolic link" "and the error says why"

# --- one image for the whole ELF: imgtool's failure, with the diagnosis ---
run pack --single --version 2.3.0+4 "$D/app.elf"
expect_rc 65 "the vector ELF as ONE image does not fit 0xe0000"
expect_err "Image size (0x1015f054) + trailer (0x630) exceeds requested size 0xe0000" "imgtool's wording and numbers"
expect_err "internal flash 0x0000c200..0x0000e31c" "names the internal flash range"
expect_err "QSPI XIP 0x10120000..0x1016b02c" "names the QSPI range"
expect_err "dfu-mgr pack" "says that pack splits it"

# --- bad input: clear error, non-zero exit, nothing written ---
run pack --version 2.3.0+4 --slot-size1 0x10000 -o "$T/small" "$D/app.elf"
expect_rc 65 "image 1 larger than its slot"
expect_err "image 1 (QSPI XIP" "names image 1"
expect_err "exceeds requested size 0x10000" "imgtool's slot message"
expect_true "no half bundle left" test ! -e "$T/small"
cp -a "$T/b" "$T/b.before"
run pack --version 2.3.0+5 -o "$T/b" "$D/app.elf"
expect_rc 73 "refuses a non-empty output directory"
expect_true "the existing bundle is untouched" diff -r "$T/b" "$T/b.before"
run pack --version 2.x -o "$T/v" "$D/app.elf"
expect_rc 64 "bad version is a usage error"
run pack --version 2.3.0 -o "$T/v" "$T/nope.elf"
expect_rc 66 "missing ELF"
head -c 20000 "$D/app.elf" > "$T/trunc.elf"
run pack --version 2.3.0 -o "$T/v" "$T/trunc.elf"
expect_rc 65 "truncated ELF"
expect_true "nothing written for a bad ELF" test ! -e "$T/v"
run pack --version 2.3.0 -o "$T/v" --key "$D/key-A-pub.pem" "$D/app.elf"
expect_rc 64 "a public key cannot sign"

# --- damaged images: specific errors and exit codes ---
run inspect "$D/int-signed-badmagic.bin"
expect_rc 65 "bad magic"
expect_err "bad image header magic 0x96f3b83c at offset 0" "names magic and offset"
run inspect "$D/int-signed-trunc.bin"
expect_rc 65 "truncated payload"
run inspect "$D/int-signed-trunc-tlv.bin"
expect_rc 65 "truncated TLV area"
expect_err "runs past end of file" "says where it is cut"
run inspect "$D/int-signed-bitflip.bin"
expect_rc 1 "hash mismatch"
expect_out "image hash mismatch" "hash mismatch reported"
run inspect --key "$D/key-A-pub.pem" "$D/int-signed-badsig.bin"
expect_rc 1 "bad signature"
run inspect --key "$T/other.pub.pem" "$D/int-signed.bin"
expect_rc 1 "signature with another key"
run inspect --slot-size 0xe0000 "$D/int-unsigned.bin"
expect_rc 0 "slot fit check passes"
expect_out "slot fit       fits" "fits"
run inspect --slot-size 0x30000 "$D/int-unsigned.bin"
expect_rc 65 "slot fit check fails"
expect_out "exceeds requested size 0x30000" "with imgtool's message"
run inspect "$D/vectors.json"
expect_rc 65 "a JSON file that is not a manifest"

# --- --json ---
run inspect --json --key "$D/key-A-pub.pem" "$D/int-dep.bin" "$D/app.elf" "$T/b" "$D/int-signed-badmagic.bin"
expect_rc 65 "inspect --json over four files, one bad"
expect_true "--json output is valid JSON with the parsed fields" python3 - "$OUT" <<'PY'
import json, sys
d = json.loads(sys.argv[1])["files"]
assert d[0]["type"] == "mcuboot-image" and d[0]["header"]["version"] == "2.3.0+4", d[0]
assert d[0]["dependencies"] == [{"image": 1, "min_version": "2.3.0+4"}], d[0]
assert d[0]["hash_ok"] is True and d[0]["signature"] == "valid"
assert d[1]["type"] == "elf" and d[1]["regions"]["qspi"]["size"] == 307244, d[1]
assert d[1]["fits_one_image"] is False
assert d[2]["type"] == "bundle" and d[2]["valid"] is True and d[2]["signer"] == "key-A-pub.pem", d[2]
assert d[3]["error"]["name"] == "bad magic number", d[3]
PY

# --- help and usage ---
for c in inspect pack sign verify-bundle keygen; do
	run "$c" --help
	expect_rc 0 "$c --help"
done
run --help
expect_rc 0 "--help"
run frobnicate
expect_rc 64 "unknown command"
run inspect
expect_rc 64 "inspect without files"
finish
