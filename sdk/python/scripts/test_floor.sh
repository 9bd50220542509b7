#!/usr/bin/env bash
# Run the adapter tests against the LOWEST provider package versions the SDK declares
# (the ">=" bounds of the `test` extra in sdk/python/pyproject.toml), in a separate venv.
# Not part of the normal suite: it installs a second copy of every provider package.
#
#   bash sdk/python/scripts/test_floor.sh            # venv in $FLOOR_VENV or a temp dir
set -euo pipefail

sdk_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo_dir="$(cd "$sdk_dir/../.." && pwd)"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x "$repo_dir/.venv/bin/python" ]]; then
        python="$("$repo_dir/.venv/bin/python" -c 'import sys; print(sys._base_executable)')"
    else
        python="python3"
    fi
fi
venv="${FLOOR_VENV:-$(mktemp -d)/floor-venv}"

# provider==floor pins from the `test` extra
mapfile -t pins < <("$python" - "$sdk_dir/pyproject.toml" <<'PY'
import re, sys, tomllib
extra = tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["test"]
providers = {"openai", "anthropic", "google-genai", "boto3", "litellm"}
for req in extra:
    m = re.fullmatch(r"([A-Za-z0-9_.\-]+)>=([0-9][0-9A-Za-z.]*)", req.replace(" ", ""))
    if m and m.group(1) in providers:
        print(f"{m.group(1)}=={m.group(2)}")
PY
)
echo "floor pins: ${pins[*]}"

rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "${pins[@]}" "pytest>=8.3" "pytest-asyncio>=0.24" "pytest-timeout>=2.3"
"$venv/bin/pip" install -q --no-deps -e "$sdk_dir"
"$venv/bin/pip" list 2>/dev/null | grep -Ei '^(openai|anthropic|google-genai|boto3|botocore|litellm) '

cd "$sdk_dir"
# -c /dev/null: not the repository's pytest settings (its filterwarnings=error is for the
# current versions); the adapter tests only, no server, no costobs up.
exec "$venv/bin/python" -m pytest -c /dev/null --rootdir "$sdk_dir" -p no:cacheprovider -q \
    -o asyncio_mode=auto -o asyncio_default_fixture_loop_scope=function --timeout 300 \
    tests/test_openai.py tests/test_anthropic.py tests/test_google_genai.py \
    tests/test_bedrock.py tests/test_litellm.py tests/test_context.py tests/test_shipper.py "$@"
