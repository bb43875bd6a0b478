#!/usr/bin/env bash
# HTTP throughput of the release build on loopback, next to a trivial axum server measured in
# the same run on the same machine.
#
#   bash benches/http_load.sh
#
# 1. builds `credledger` and `examples/trivial_axum.rs` in release;
# 2. starts `credledger serve` on 127.0.0.1:18180 over a fresh temporary data directory and
#    key file, reads the admin token and the org workspace from its first-start output, and
#    creates one authentication with curl;
# 3. starts the trivial server on 127.0.0.1:18181;
# 4. runs wrk (a short warm-up, then the measured run) against
#      trivial   GET  /                   (plain text "ok")
#      trivial   POST /echo               (small JSON in, small JSON out)
#      credledger POST /v1/resolve        (one secret field unsealed into a template)
#      credledger POST /v1/authentications (a durable create per request, unique names)
# 5. prints one JSON line per measurement and one line of ratios credledger/trivial (stdout),
#    wrk's own reports (stderr), then stops both servers and runs `credledger verify`.
#
# Traffic goes to 127.0.0.1 only. Every wrk run is bounded by its duration and by `timeout`;
# after the build the script takes about 4 x (warm-up + duration) + ~10 s (~80 s by default).
#
# Settings (environment): HTTP_LOAD_DURATION (seconds, default 15, at most 30),
# HTTP_LOAD_WARMUP (seconds, default 3, at most 10), HTTP_LOAD_THREADS (default 2),
# HTTP_LOAD_CONNECTIONS (default 32), HTTP_LOAD_KEEP=1 keeps the temporary directory.
# wrk is installed with apt-get if missing (Debian package `wrk`; needs root).

set -euo pipefail

DURATION="${HTTP_LOAD_DURATION:-15}"
WARMUP="${HTTP_LOAD_WARMUP:-3}"
THREADS="${HTTP_LOAD_THREADS:-2}"
CONNECTIONS="${HTTP_LOAD_CONNECTIONS:-32}"
HOST=127.0.0.1
CL_PORT=18180
TRIVIAL_PORT=18181

die() { echo "http_load: $*" >&2; exit 1; }
log() { echo "http_load: $*" >&2; }

for v in DURATION WARMUP THREADS CONNECTIONS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
((DURATION >= 1 && DURATION <= 30)) || die "HTTP_LOAD_DURATION must be 1..30 seconds"
((WARMUP <= 10)) || die "HTTP_LOAD_WARMUP must be 0..10 seconds"
((THREADS >= 1 && CONNECTIONS >= THREADS)) || die "need THREADS >= 1 and CONNECTIONS >= THREADS"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# --- tools -------------------------------------------------------------------------------
install_pkgs() {
    if [[ "$(id -u)" -ne 0 ]]; then
        die "missing $*; install it (Debian: apt-get install -y $*)"
    fi
    log "installing $* with apt-get"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
((${#missing[@]} == 0)) || install_pkgs "${missing[@]}"

# --- build -------------------------------------------------------------------------------
log "building release (cargo build --release --bin credledger --example trivial_axum)"
cargo build --release --bin credledger --example trivial_axum >&2
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
[[ -n "$TARGET_DIR" ]] || TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
CL_BIN="$TARGET_DIR/release/credledger"
TRIVIAL_BIN="$TARGET_DIR/release/examples/trivial_axum"
[[ -x "$CL_BIN" && -x "$TRIVIAL_BIN" ]] || die "binaries not found under $TARGET_DIR/release"

# --- servers and cleanup ------------------------------------------------------------------
TMP="$(mktemp -d -t credledger-http-load.XXXXXX)"
CL_PID=""
TRIVIAL_PID=""

stop_pid() { # pid: SIGTERM, up to 15 s for a graceful stop, then SIGKILL
    local pid="$1" i
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    log "pid $pid did not stop within 15 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_pid "$CL_PID"
    stop_pid "$TRIVIAL_PID"
    CL_PID=""
    TRIVIAL_PID=""
    if [[ "${HTTP_LOAD_KEEP:-0}" == 1 ]]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_line() { # file pattern pid what
    local i
    for ((i = 0; i < 300; i++)); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || { cat "$1" "$1.err" >&2 2>/dev/null; die "$4 exited before serving"; }
        sleep 0.1
    done
    die "$4 did not start within 30 s"
}

for port in "$CL_PORT" "$TRIVIAL_PORT"; do
    if curl -s -o /dev/null --max-time 1 "http://$HOST:$port/"; then
        die "something already listens on $HOST:$port"
    fi
done

# Verification off: the creates are airtable authentications, whose endpoint is on the internet.
"$CL_BIN" serve --listen "$HOST:$CL_PORT" --data-dir "$TMP/data" --key-file "$TMP/key" \
    --credential-verification off \
    >"$TMP/credledger.out" 2>"$TMP/credledger.out.err" &
CL_PID=$!
"$TRIVIAL_BIN" "$HOST:$TRIVIAL_PORT" >"$TMP/trivial.out" 2>"$TMP/trivial.out.err" &
TRIVIAL_PID=$!
wait_for_line "$TMP/credledger.out" "serving http://" "$CL_PID" "credledger"
wait_for_line "$TMP/trivial.out" "serving http://" "$TRIVIAL_PID" "trivial_axum"

TOKEN="$(awk '/admin token/ {print $3; exit}' "$TMP/credledger.out")"
WS="$(awk '/org workspace/ {print $3; exit}' "$TMP/credledger.out")"
[[ "$TOKEN" == clt_* ]] || die "no admin token in the first-start output"
[[ "$WS" =~ ^[0-9a-f-]{36}$ ]] || die "no org workspace in the first-start output"

CL="http://$HOST:$CL_PORT"
TRIVIAL="http://$HOST:$TRIVIAL_PORT"
created="$(curl -sS --max-time 10 -X POST "$CL/v1/authentications" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"name\":\"Load\",\"workspace\":\"$WS\",\"service\":\"airtable\",\"fields\":{\"token\":\"load-token\"}}" \
    -w '\n%{http_code}')"
[[ "${created##*$'\n'}" == 201 ]] || die "creating the authentication failed: $created"
AUTH_ID="$(printf '%s' "$created" | grep -o '"id":"[0-9a-f-]\{36\}"' | head -n1 | cut -d'"' -f4)"
[[ -n "$AUTH_ID" ]] || die "no id in the create answer: $created"

RESOLVE_BODY="{\"authentication\":\"$AUTH_ID\",\"workspace\":\"$WS\",\"template\":{\"h\":\"Bearer {\$.auth.token}\"}}"
check="$(curl -sS --max-time 10 -X POST "$CL/v1/resolve" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d "$RESOLVE_BODY")"
[[ "$check" == *'Bearer load-token'* ]] || die "resolve does not answer the secret: $check"
echo_check="$(curl -sS --max-time 10 -X POST "$TRIVIAL/echo" -H 'Content-Type: application/json' \
    -d "$RESOLVE_BODY")"
[[ "$echo_check" == *'"ok":true'* ]] || die "trivial /echo does not answer: $echo_check"
log "credledger pid $CL_PID, trivial pid $TRIVIAL_PID, authentication $AUTH_ID"

# --- wrk scripts ---------------------------------------------------------------------------
# Every script counts the status codes it receives (response()) and prints them in done() as
# one line `STATUS <code>=<n> ...`. All four runs use a response() callback so wrk does the
# same parsing work against both servers.
cat >"$TMP/count.lua" <<'LUA'
local threads = {}
function setup(thread)
    table.insert(threads, thread)
    thread:set("tid", #threads)
end
statuses = {}
sample = ""
function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if (status < 200 or status > 299) and sample == "" then
        sample = status .. " " .. string.sub(body or "", 1, 300)
    end
end
function done(summary, latency, requests)
    local total = {}
    for _, thread in ipairs(threads) do
        local s = thread:get("statuses")
        for code, n in pairs(s) do
            total[code] = (total[code] or 0) + n
        end
    end
    local parts = {}
    for code, n in pairs(total) do
        table.insert(parts, string.format("%d=%d", code, n))
    end
    table.sort(parts)
    io.write("STATUS " .. table.concat(parts, " ") .. "\n")
    for _, thread in ipairs(threads) do
        local first = thread:get("sample")
        if first ~= nil and first ~= "" then
            io.write("FIRST_NON_2XX " .. string.gsub(first, "\n", " ") .. "\n")
            break
        end
    end
end
LUA

lua_escape() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }

cat "$TMP/count.lua" - >"$TMP/echo.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = "$(lua_escape "$RESOLVE_BODY")"
LUA

cat "$TMP/count.lua" - >"$TMP/resolve.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = "$(lua_escape "$RESOLVE_BODY")"
LUA

# Unique names: the script's pid, the wrk run's label (warm-up or measured run; passed as the
# script argument), the wrk thread id and a per-thread counter.
cat "$TMP/count.lua" - >"$TMP/create.lua" <<LUA
local run_label = "run"
function init(args)
    run_label = args[1] or "run"
end
local create_headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer $TOKEN",
}
local counter = 0
function request()
    counter = counter + 1
    local body = string.format(
        '{"name":"load-%s-%s-%s-%d","workspace":"$WS","service":"airtable","fields":{"token":"load-token"}}',
        "$$", run_label, tostring(tid), counter)
    return wrk.format("POST", "/v1/authentications", create_headers, body)
end
LUA

# --- measurements ---------------------------------------------------------------------------
to_ms() { # "1.23ms" | "850.00us" | "1.02s" -> milliseconds
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else { printf "null" } }'
}

declare -A RPS P99
measure() { # key target endpoint script url
    local key="$1" target="$2" endpoint="$3" script="$4" url="$5" out="$TMP/$1.txt"
    local bound=$((DURATION + 20))
    if ((WARMUP > 0)); then
        timeout $((WARMUP + 20)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" --timeout 5s \
            -s "$TMP/$script" "$url" -- warmup >/dev/null 2>&1 || log "$key: warm-up run failed"
    fi
    log "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --timeout 5s --latency -s $script $url"
    timeout "$bound" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 5s --latency \
        -s "$TMP/$script" "$url" -- measured >"$out" 2>&1 || { cat "$out" >&2; die "$key: wrk failed"; }
    sed "s/^/  [$key] /" "$out" >&2

    local rps p50 p99 requests non2xx3xx socket statuses ok=0 bad=0 codes="" code n
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
    p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
    requests="$(awk '/requests in/ {print $1}' "$out")"
    non2xx3xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
    socket="$(awk -F'[:,]' '/Socket errors:/ {
        gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $3); gsub(/^ +| +$/, "", $4); gsub(/^ +| +$/, "", $5)
        split($2, c, " "); split($3, r, " "); split($4, w, " "); split($5, t, " ")
        printf "{\"connect\":%d,\"read\":%d,\"write\":%d,\"timeout\":%d}", c[2], r[2], w[2], t[2] }' "$out")"
    [[ -n "$socket" ]] || socket='{"connect":0,"read":0,"write":0,"timeout":0}'
    statuses="$(awk '/^STATUS/ {for (i = 2; i <= NF; i++) print $i}' "$out")"
    for pair in $statuses; do
        code="${pair%%=*}"
        n="${pair#*=}"
        if ((code >= 200 && code < 300)); then ok=$((ok + n)); else bad=$((bad + n)); fi
        codes="${codes:+$codes,}\"$code\":$n"
    done
    [[ -n "$rps" && "$p99" != null ]] || { cat "$out" >&2; die "$key: cannot parse wrk's output"; }
    RPS[$key]="$rps"
    P99[$key]="$p99"
    printf '{"bench":"http_load","target":"%s","endpoint":"%s","threads":%d,"connections":%d,"duration_s":%d,"requests":%s,"requests_per_s":%s,"p50_ms":%s,"p99_ms":%s,"responses_2xx":%d,"responses_non_2xx":%d,"wrk_non_2xx_3xx":%s,"status_codes":{%s},"socket_errors":%s}\n' \
        "$target" "$endpoint" "$THREADS" "$CONNECTIONS" "$DURATION" "${requests:-0}" "$rps" \
        "$p50" "$p99" "$ok" "$bad" "${non2xx3xx:-0}" "$codes" "$socket"
    if ((bad > 0)); then
        log "$key: $bad responses were not 2xx ($codes); first: $(awk '/^FIRST_NON_2XX/ {sub(/^FIRST_NON_2XX /, ""); print; exit}' "$out")"
    fi
}

# Anything else busy on the machine skews every figure: say how loaded it was.
log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
started=$SECONDS
measure trivial_get trivial_axum "GET /" count.lua "$TRIVIAL/"
measure trivial_echo trivial_axum "POST /echo" echo.lua "$TRIVIAL/echo"
measure resolve credledger "POST /v1/resolve" resolve.lua "$CL/v1/resolve"
measure create credledger "POST /v1/authentications" create.lua "$CL/v1/authentications"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else printf "null" }'; }
printf '{"bench":"http_load","ratios":"credledger/trivial","resolve_vs_echo_rps":%s,"resolve_vs_echo_p99":%s,"create_vs_echo_rps":%s,"create_vs_echo_p99":%s,"resolve_vs_get_rps":%s,"create_vs_get_rps":%s}\n' \
    "$(ratio "${RPS[resolve]}" "${RPS[trivial_echo]}")" "$(ratio "${P99[resolve]}" "${P99[trivial_echo]}")" \
    "$(ratio "${RPS[create]}" "${RPS[trivial_echo]}")" "$(ratio "${P99[create]}" "${P99[trivial_echo]}")" \
    "$(ratio "${RPS[resolve]}" "${RPS[trivial_get]}")" "$(ratio "${RPS[create]}" "${RPS[trivial_get]}")"
log "measured in $((SECONDS - started)) s; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- stop, then check the log the creates wrote ---------------------------------------------
stop_pid "$CL_PID"
CL_PID=""
stop_pid "$TRIVIAL_PID"
TRIVIAL_PID=""
grep -q "ledger flushed and closed" "$TMP/credledger.out" ||
    log "credledger did not report a clean shutdown: $(tail -n 3 "$TMP/credledger.out")"
timeout 60 "$CL_BIN" verify --data-dir "$TMP/data" >&2 || log "credledger verify failed"
