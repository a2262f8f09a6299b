#!/usr/bin/env bash
# Seeds the sip_request fuzz corpus with tests/sip-corpus/ (malformed and unusual SIP
# messages) and the flow_yaml fuzz corpus with the shipped flows: each file alone (read as
# principal.yaml), and the whole set as one input (the files separated by NUL bytes,
# each named by a `#!name.yaml` first line; see fuzz_targets/flow_yaml.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus/flow_yaml
mkdir -p "$out"
for f in ivr-flows/*.yaml; do
  cp "$f" "$out/$(basename "$f")"
done
# Each part named by a `#!name.yaml` first line, so references between flows resolve.
first=1
for f in ivr-flows/*.yaml; do
  [ "$first" = 1 ] || printf '\0'
  first=0
  printf '#!%s\n' "$(basename "$f")"
  cat "$f"
done > "$out/whole-set"
echo "seeded $(ls "$out" | wc -l) inputs in $out"
sip=fuzz/corpus/sip_request
mkdir -p "$sip"
cp tests/sip-corpus/*.sip "$sip/"
echo "seeded $(ls "$sip" | wc -l) inputs in $sip"
