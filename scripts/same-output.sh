#!/usr/bin/env bash
# Runs every command whose output must not change under a refactor (rate, conform, validate, test,
# show, compare, diff, synth on the bundled data) with the given sapa executable and keeps what each
# printed and wrote under OUT. Two installs, two folders, one `diff -r`:
#   scripts/same-output.sh old-venv/bin/sapa /tmp/before
#   scripts/same-output.sh .venv/bin/sapa /tmp/after && diff -r /tmp/before /tmp/after
# Run from the repository root (examples/ and tests/specs/ are read from it).
set -uo pipefail
SAPA=$(realpath "$1"); OUT=$(realpath -m "$2")
rm -rf "$OUT"; mkdir -p "$OUT"
run() { # name, args...
  local name=$1; shift
  "$SAPA" "$@" >"$OUT/$name.stdout" 2>"$OUT/$name.stderr"; echo "exit $?" >>"$OUT/$name.stdout"
}
for y in 2020 2019 2013; do
  run "rate-$y" rate "$y" --out "$OUT/rate-$y"
  run "rate-$y-table" rate "$y"
  run "conform-$y" conform "$y"
  run "conform-$y-json" conform "$y" --format json
  run "validate-$y" validate "$y"
  run "test-$y" test "$y"
  run "show-$y" show --resolved "$y"
done
run compare compare 2019 2020 --map cgo=cgo_own_zone --rating cgo --allow-missing-items
run compare-variant compare 2020 examples/2020-satisfied-4-or-5.yaml --rating cgo_own_zone --out "$OUT/compare-variant"
run compare-json compare 2019 2020 --format json --allow-missing-items
run diff diff 2019 2020
run list list
run validate-broken validate tests/specs/broken.yaml
run validate-broken-json validate tests/specs/broken.yaml --format json
run synth-2019 synth 2019 --out "$OUT/synth-2019"
run synth-2020-unit synth 2020 --unit 2.51 --out "$OUT/synth-2020-unit" --report "$OUT/synth-2020-unit-fit.csv"
# what differs between two runs by design: when a rating was made (the manifest), the output
# folder, and where the bundled specs are installed
sed -i -E 's/"(created)": *"[^"]*"/"\1": "…"/' "$OUT"/*/manifest.json
sed -i -E -e "s#$OUT#OUT#g" -e 's#[^ ]*/methodology/#<bundled>/methodology/#g' "$OUT"/*.stdout "$OUT"/*.stderr
true
