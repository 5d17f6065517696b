#!/bin/sh
# Writes the seed corpus fuzz/corpus/<target>/ from the repository's own fixtures:
# tests/data/import, templates/layouts, the worked examples in docs/, gen-sample output,
# and a key list, QR payloads and PDFs made by the elicence binary with keys-example/.
# Run from the repository root after `cargo build`: sh fuzz/gen_seeds.sh
set -eu
E=${ELICENCE:-target/debug/elicence}
C=fuzz/corpus
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p $C/identifier $C/holder_code $C/import_csv $C/import_jsonl $C/import_xlsx $C/import_row \
    $C/qr_decode $C/template $C/verify_pdf $C/verify_keylist $C/verify_record

# with_option BYTE FILE OUT: the target's option byte, then the file.
with_option() { { printf "\\$(printf %03o "$1")"; cat "$2"; } > "$3"; }

ID=1.2.156.3005.2.11100000000013338W011.11110000000021135M.20230329701.003.Y
printf %s "$ID" > $C/identifier/published
printf %s "${ID%Y}Z" > $C/identifier/bad-check
printf %s "1.2.156.3005.2.11100000000013338W011.11110000000021135M.1.999.0" > $C/identifier/version-999
printf %s "11100000000013338W011|11110000000021135M|20230329701" > $C/identifier/parts

printf %s 91440300708461136T > $C/holder_code/uscc
printf %s 91440300708461136A > $C/holder_code/uscc-bad-check
printf %s 11010519491231002X > $C/holder_code/resident-id
printf %s 11010519491231002x > $C/holder_code/resident-id-lower-x
printf %s 110105194913310021 > $C/holder_code/resident-id-bad-date
printf %s 110105491231002 > $C/holder_code/resident-id-15
printf %s "９１４４０３００７０８４６１１３６Ｔ" > $C/holder_code/fullwidth
printf %s "欧阳小明" > $C/holder_code/name

# Import: the fixtures with their mappings, and gen-sample output with planted bad rows.
D=tests/data/import
with_option 0 $D/business-licences-gbk.csv $C/import_csv/business-gbk-auto
with_option 2 $D/business-licences-gbk.csv $C/import_csv/business-gbk-forced
sample() { "$E" gen-sample --rows 25 --seed 7 --bad-rows --format "$1" --out "$T/$2" >/dev/null 2>&1; }
sample csv sample.csv
sample csv-bom sample-bom.csv
sample csv-gbk sample-gbk.csv
sample jsonl sample.jsonl
sample xlsx sample.xlsx
with_option 16 "$T/sample.csv" $C/import_csv/sample-utf8
with_option 17 "$T/sample-bom.csv" $C/import_csv/sample-utf8-bom
with_option 18 "$T/sample-gbk.csv" $C/import_csv/sample-gbk
with_option 0 $D/business-licences.jsonl $C/import_jsonl/business
with_option 4 "$T/sample.jsonl" $C/import_jsonl/sample
with_option 0 $D/sample-40.xlsx $C/import_xlsx/sample-40
with_option 0 "$T/sample.xlsx" $C/import_xlsx/sample-25
# The same workbook with its parts stored uncompressed, so mutations reach the XML.
python3 - "$T/sample.xlsx" "$T/stored.xlsx" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED) as dst:
    for item in src.infolist():
        dst.writestr(item.filename, src.read(item.filename))
PY
with_option 0 "$T/stored.xlsx" $C/import_xlsx/sample-25-stored

# import_row: option byte (mapping index) then values separated by U+001F, in the order
# of the mapping's [columns] (sorted by licence field) then its [[fields]].
US=$(printf '\037')
row() { printf "\\$(printf %03o "$1")"; shift; (IFS=$US; printf %s "$*"); }
# sample.toml: holder_code holder_name issue_date issuer_code issuer_name legacy_identifier
# licence_number licence_type_code region_code related_item valid_from valid_until
row 0 91420800MA4F0001X1 荆门市楚韵食品有限公司 2015年3月1日 11420800MB1A234561 荆门市市场监督管理局 \
    "" 91420800MA4F0001X1 营业执照 420800 企业设立登记 2015/3/1 长期 > $C/import_row/sample
# business-licence-gbk.toml: holder_code holder_name issue_date licence_number region_code
# valid_from valid_until
row 1 91420802MA4BCD0127 荆门市楚韵食品有限公司 2015-03-01 91420802MA4BCD0127 东宝区 \
    2012-05-10 长期 > $C/import_row/business
# physician-xlsx.toml: holder_code holder_code_type holder_name issue_date
# legacy_identifier licence_number region_code
row 2 11010519491231002X 身份证 张小明 01/03/2015 "" 110420800000001 420800 > $C/import_row/physician
row 130 42064 01/03/2015 "2015-03-01 08:30:00" 20150301 "２０１５－０３－０１" 永久 > $C/import_row/dates

# QR payloads, PDFs, key list and records from a store made with the example keys.
DATA="$T/data"
"$E" import --data-dir "$DATA" --allow-insecure-key-permissions --allow-rejects \
    --mapping templates/mappings/sample.toml --rejects "$T/rejects.csv" "$T/sample.csv" >/dev/null 2>&1
IDENT=$(grep -o '1\.2\.156\.3005\.2\.11100000000013338W011\.[0-9A-Z.]*' "$T/sample.csv" | head -1)
"$E" render --data-dir "$DATA" --allow-insecure-key-permissions --identifier "$IDENT" \
    --out $C/verify_pdf/licence.pdf >/dev/null 2>&1
"$E" render --data-dir "$DATA" --allow-insecure-key-permissions --identifier "$IDENT" \
    --copy-for 荆门市人力资源和社会保障局 --purpose 办理社会保险登记 --copy-until "$(date -u -d "+30 days" +%F)" \
    --out $C/verify_pdf/copy.pdf >/dev/null 2>&1
"$E" keys export --keys keys-example --allow-insecure-key-permissions --out $C/verify_keylist/keys-example.json \
    >/dev/null 2>&1
# The payload sits in /Keywords as a UTF-16BE hex string.
for f in licence copy; do
    python3 - $C/verify_pdf/$f.pdf $C/qr_decode/$f <<'PY'
import re, sys
pdf = open(sys.argv[1], "rb").read()
hexstr = re.search(rb"/Keywords\s*<([0-9A-Fa-f]+)>", pdf).group(1)
text = bytes.fromhex(hexstr.decode())[2:].decode("utf-16-be")
payload = next(k.strip() for k in text.split(",") if k.strip().startswith("ELC1:"))
open(sys.argv[2], "w").write(payload)
PY
done
# The smallest PDF whose /Info /Keywords carry a payload.
P=$(cat $C/qr_decode/licence)
{
    printf '%%PDF-1.7\n'
    printf '1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n'
    printf '2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n'
    printf '3 0 obj\n<< /Keywords (%s, %s) >>\nendobj\n' "$P" "$IDENT"
    printf 'trailer\n<< /Size 4 /Root 1 0 R /Info 3 0 R >>\n%%%%EOF\n'
} > $C/verify_pdf/minimal.pdf

python3 - "$C/verify_record/worked-example" <<'PY'
import json, sys
example = json.load(open("docs/verifying-example.json"))
open(sys.argv[1], "wb").write(bytes.fromhex(example["signed_record_hex"]))
PY

cp templates/layouts/*.toml $C/template/
{ cat templates/layouts/business-licence.toml; printf '\000张小明\037食品销售；预包装食品\037荆门市人社局\037办理社会保险登记'; } \
    > $C/template/business-licence-copy
echo "seeds written to $C"
