#!/usr/bin/env bash
# Makes the project's test captures in three network namespaces:
#
#   client (curl --tcp-fastopen) -- router (netfilter middlebox, transparent proxy) -- server
#   192.0.2.1 / 2001:db8:1::1       192.0.2.254 | 198.51.100.254                     198.51.100.1 / 2001:db8:2::1
#
# For each case it forgets the client's cached cookies, fetches with TFO twice (cookie request,
# then SYN-data) and once without (baseline), capturing at the client. Needs root, iproute2,
# iptables, tcpdump, dumpcap (tshark), tcprewrite (tcpreplay), curl, and tfoscope: its
# `serve` is the origins (echo origins, as in `tfoscope lab`) and its `lab-serve` the
# transparent proxies (one implementation); curl stays the client, independent of our
# collector.
#
# usage: lab/scripts/make-testdata.sh OUTDIR [CASE...]   (no CASE: all; see `cases` below)
#        lab/scripts/make-testdata.sh --hold               (set up, print "ready", keep the lab
#                                                           until stdin closes or a signal)
# env:   TFO_LAB_PREFIX (default tfd): namespace/interface prefix, so runs do not collide.
#        TFO_LAB_SERVER_CAPTURE=DIR: also capture at the server (tcpdump on its interface), each
#        case's server capture in DIR under the client capture's name: two-ended runs.
#        TFOSCOPE: the tfoscope executable (default: on PATH, else target/{debug,release}).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [ -z "${TFOSCOPE:-}" ]; then
  TFOSCOPE=$(command -v tfoscope || true)
  for t in "$ROOT/target/debug/tfoscope" "$ROOT/target/release/tfoscope"; do
    [ -z "$TFOSCOPE" ] && [ -x "$t" ] && TFOSCOPE=$t
  done
fi
[ -x "${TFOSCOPE:-}" ] || { echo "no tfoscope executable: build it (cargo build) or set TFOSCOPE" >&2; exit 2; }
HOLD=
if [ "${1:-}" = --hold ]; then HOLD=1; OUT=/nonexistent; else OUT=$(realpath -m "${1:?usage: make-testdata.sh OUTDIR [CASE...]}"); fi
shift
P=${TFO_LAB_PREFIX:-tfd}
C=${P}-c R=${P}-r S=${P}-s
WORK=$(mktemp -d)
PIDS=()

cases=(clean_http clean_https clean_ipv6 option_dropped option_reset syndata_dropped syndata_reset
       option_stripped proxy_no_tfo origin_no_tfo proxy_tfo host_down port_closed sll sll2 snap128 snap64 vlan)
# Not in testdata/ (no CASE: all of the above), for two-ended runs: TFO_LAB_SERVER_CAPTURE.
more_cases=(mss_clamped source_nat)

nsc() { ip netns exec "$C" "$@"; }
nsr() { ip netns exec "$R" "$@"; }
nss() { ip netns exec "$S" "$@"; }

teardown() {
  for pid in "${PIDS[@]:-}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; done
  for ns in "$C" "$R" "$S"; do
    if ip netns list | grep -qw "$ns"; then
      ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
      ip netns del "$ns" 2>/dev/null || true
    fi
    rm -rf "/etc/netns/$ns"
  done
  for link in "$P-cr" "$P-rs"; do ip link del "$link" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap teardown EXIT
trap 'exit 130' INT TERM

setup() {
  teardown_stale() {
    for ns in "$C" "$R" "$S"; do ip netns del "$ns" 2>/dev/null || true; done
    # A run killed between creating a veth pair and moving it leaves it in this namespace.
    for link in "$P-cr" "$P-rs"; do ip link del "$link" 2>/dev/null || true; done
  }
  teardown_stale
  for ns in "$C" "$R" "$S"; do
    ip netns add "$ns"; ip -n "$ns" link set lo up
    # Inside the lab nothing may ask the host's resolver: an empty resolv.conf for each netns.
    mkdir -p "/etc/netns/$ns"; echo "# tfoscope lab: no resolver" > "/etc/netns/$ns/resolv.conf"
  done
  ip link add "$P-cr" type veth peer name "$P-rc"
  ip link set "$P-cr" netns "$C"; ip link set "$P-rc" netns "$R"
  ip link add "$P-rs" type veth peer name "$P-sr"
  ip link set "$P-rs" netns "$R"; ip link set "$P-sr" netns "$S"
  ip -n "$C" addr add 192.0.2.1/24 dev "$P-cr"
  ip -n "$C" addr add 2001:db8:1::1/64 dev "$P-cr" nodad
  ip -n "$R" addr add 192.0.2.254/24 dev "$P-rc"
  ip -n "$R" addr add 2001:db8:1::fe/64 dev "$P-rc" nodad
  ip -n "$R" addr add 198.51.100.254/24 dev "$P-rs"
  ip -n "$R" addr add 2001:db8:2::fe/64 dev "$P-rs" nodad
  ip -n "$S" addr add 198.51.100.1/24 dev "$P-sr"
  ip -n "$S" addr add 2001:db8:2::1/64 dev "$P-sr" nodad
  for dev in "$C:$P-cr" "$R:$P-rc" "$R:$P-rs" "$S:$P-sr"; do ip -n "${dev%%:*}" link set "${dev#*:}" up; done
  ip -n "$C" route add default via 192.0.2.254
  ip -n "$C" -6 route add default via 2001:db8:1::fe
  ip -n "$S" route add default via 198.51.100.254
  ip -n "$S" -6 route add default via 2001:db8:2::fe
  nsr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  # Client: TFO client on (the default), no blackhole back-off to spoil later fetches.
  nsc sysctl -qw net.ipv4.tcp_fastopen=1 net.ipv4.tcp_fastopen_blackhole_timeout_sec=0
  # Nor MPTCP's (collect --features tfo,mptcp).
  nsc sysctl -e -qw net.mptcp.enabled=1 net.mptcp.blackhole_timeout=0
  # Server and router (its proxy): TFO server side on.
  nss sysctl -qw net.ipv4.tcp_fastopen=3
  nsr sysctl -qw net.ipv4.tcp_fastopen=3

  # The HTTPS origin makes its own self-signed certificate for lab.test (curl -k).
  serve "$S" 443 198.51.100.1 serve --http 198.51.100.1:80 --http '[2001:db8:2::1]:80' \
    --https 198.51.100.1:443 --name lab.test --max-connections 1000
  serve "$S" 8080 198.51.100.1 serve --no-tfo --http 198.51.100.1:8080 --max-connections 1000
  # The MPTCP origin with TFO (as `tfoscope lab` has it): its SYN-ACKs grant MP_CAPABLE.
  serve "$S" 8081 198.51.100.1 lab-serve http,198.51.100.1:8081,tfo,mptcp 'http,[2001:db8:2::1]:8081,tfo,mptcp'
  # Transparent proxies for the REDIRECT rules, without and with TFO.
  serve "$R" 3129 0.0.0.0 lab-serve proxy,0.0.0.0:3129
  serve "$R" 3130 0.0.0.0 lab-serve proxy,0.0.0.0:3130,tfo
  # A box that answers in the origin's place with a page of its own (response_differs).
  serve "$R" 3131 0.0.0.0 lab-serve "http,0.0.0.0:3131,tfo,body=a box in the path"
  # One plain fetch per family first, so neighbour discovery on every hop is done before any
  # measured SYN (a first IPv6 SYN was seen to go unanswered for 2 s while it was not).
  for url in http://198.51.100.1/ "http://[2001:db8:2::1]/"; do
    nsc curl -s -o /dev/null --max-time 3 "$url" || true
  done
  nsc ip tcp_metrics flush all 2>/dev/null || true
}

# serve NS PORT ADDR ARGS...: start `tfoscope ARGS...` and wait until ADDR:PORT listens; a
# server that has not come up in 3 s is started again.
serve() {
  local ns=$1 port=$2 addr=$3; shift 3
  local listener="$*"
  for _ in 1 2 3; do
    ip netns exec "$ns" "$TFOSCOPE" "$@" >>"$WORK/servers.log" 2>&1 </dev/null &
    local pid=$!
    for _ in $(seq 30); do
      if ip netns exec "$ns" ss -Hltn "sport = :$port" | grep -F -- "$addr" >/dev/null; then
        PIDS+=("$pid"); return 0
      fi
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  done
  echo "tfoscope $listener did not come up in $ns" >&2; cat "$WORK/servers.log" >&2; return 1
}

reset_middlebox() {
  for t in filter mangle nat; do nsr iptables -w -t "$t" -F; nsr ip6tables -w -t "$t" -F; done
}

# capture FILE TOOL [ARGS...]: start a capture at the client; TOOL is tcpdump or dumpcap.
# With TFO_LAB_SERVER_CAPTURE, a capture at the server too.
CAP_PID=
SERVER_CAP_PID=
capture() {
  local file=$1 tool=$2; shift 2
  rm -f "$file"
  if [ -n "${TFO_LAB_SERVER_CAPTURE:-}" ]; then
    mkdir -p "$TFO_LAB_SERVER_CAPTURE"
    local server_file
    server_file="$TFO_LAB_SERVER_CAPTURE/$(basename "${file%.*}").pcap"
    ip netns exec "$S" tcpdump --immediate-mode -U -q -i "$P-sr" -w "$server_file" tcp >/dev/null 2>&1 &
    SERVER_CAP_PID=$!
    for _ in $(seq 50); do [ -s "$server_file" ] && break; sleep 0.1; done
  fi
  if [ "$tool" = dumpcap ]; then
    ip netns exec "$C" dumpcap -q -i "$P-cr" -w "$file" "$@" >/dev/null 2>&1 &
  else
    ip netns exec "$C" tcpdump --immediate-mode -U -q -i "$P-cr" -w "$file" "$@" >/dev/null 2>&1 &
  fi
  CAP_PID=$!
  for _ in $(seq 50); do [ -s "$file" ] && break; sleep 0.1; done
  sleep 0.3
}
capture_end() {
  sleep 1
  for pid in "$CAP_PID" "$SERVER_CAP_PID"; do
    [ -n "$pid" ] || continue
    kill -INT "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  done
  SERVER_CAP_PID=
}

# fetch3 URL [CURL ARGS...]: forget cookies, TFO twice, then the plain baseline.
fetch3() {
  local url=$1; shift
  nsc ip tcp_metrics flush all 2>/dev/null || true
  local codes=()
  for tfo in --tcp-fastopen --tcp-fastopen ""; do
    local rc=0
    nsc curl -s -o /dev/null --connect-timeout 3 --max-time 5 $tfo "$@" "$url" || rc=$?
    codes+=("$rc")
  done
  echo "  $url: curl exit codes ${codes[*]}"
}

run_case() {
  local name=$1
  reset_middlebox
  echo "case $name"
  case "$name" in
    clean_http) capture "$OUT/clean_http.pcap" tcpdump; fetch3 http://198.51.100.1/ ;;
    clean_https) capture "$OUT/clean_https.pcapng" dumpcap; fetch3 https://198.51.100.1/ -k ;;
    clean_ipv6)
      capture "$OUT/clean_ipv6_nanosecond.pcap" tcpdump --time-stamp-precision=nano
      fetch3 'http://[2001:db8:2::1]/' ;;
    option_dropped)
      nsr iptables -w -A FORWARD -p tcp --tcp-option 34 -j DROP
      nsr iptables -w -A FORWARD -p tcp --tcp-option 254 -j DROP
      capture "$OUT/option_dropped.pcap" tcpdump; fetch3 http://198.51.100.1/ ;;
    option_reset)
      nsr iptables -w -A FORWARD -p tcp --tcp-option 34 -j REJECT --reject-with tcp-reset
      nsr iptables -w -A FORWARD -p tcp --tcp-option 254 -j REJECT --reject-with tcp-reset
      capture "$OUT/option_reset.pcap" tcpdump; fetch3 http://198.51.100.1/ ;;
    syndata_dropped)
      # A SYN without data is at most 20 (IP) + 60 (TCP) bytes.
      nsr iptables -w -A FORWARD -p tcp --syn -m length --length 81:65535 -j DROP
      capture "$OUT/syndata_dropped.pcap" tcpdump; fetch3 http://198.51.100.1/ ;;
    syndata_reset)
      nsr iptables -w -A FORWARD -p tcp --syn -m length --length 81:65535 -j REJECT --reject-with tcp-reset
      capture "$OUT/syndata_reset.pcap" tcpdump; fetch3 http://198.51.100.1/ ;;
    option_stripped)
      nsr iptables -w -t mangle -A FORWARD -p tcp --syn -j TCPOPTSTRIP --strip-options 34,254
      capture "$OUT/option_stripped.pcap" tcpdump; fetch3 http://198.51.100.1/ ;;
    proxy_no_tfo)
      nsr iptables -w -t nat -A PREROUTING -i "$P-rc" -p tcp --dport 80 -j REDIRECT --to-ports 3129
      capture "$OUT/proxy_no_tfo.pcap" tcpdump; fetch3 http://198.51.100.1/ ;;
    origin_no_tfo) capture "$OUT/origin_no_tfo.pcap" tcpdump; fetch3 http://198.51.100.1:8080/ ;;
    proxy_tfo)
      nsr iptables -w -t nat -A PREROUTING -i "$P-rc" -p tcp --dport 8080 -j REDIRECT --to-ports 3130
      capture "$OUT/proxy_tfo_origin_no_tfo.pcap" tcpdump; fetch3 http://198.51.100.1:8080/ ;;
    host_down)
      nsr iptables -w -A FORWARD -d 198.51.100.77 -j DROP
      capture "$OUT/host_down.pcap" tcpdump; fetch3 http://198.51.100.77/ ;;
    port_closed) capture "$OUT/port_closed.pcap" tcpdump; fetch3 http://198.51.100.1:81/ ;;
    mss_clamped)
      nsr iptables -w -t mangle -A FORWARD -p tcp --syn -j TCPMSS --set-mss 1200
      capture "$OUT/mss_clamped.pcap" tcpdump; fetch3 http://198.51.100.1/ ;;
    source_nat)
      nsr iptables -w -t nat -A POSTROUTING -o "$P-rs" -j MASQUERADE
      capture "$OUT/source_nat.pcap" tcpdump; fetch3 http://198.51.100.1/ ;;
    sll|sll2)
      local dlt=LINUX_SLL; [ "$name" = sll2 ] && dlt=LINUX_SLL2
      ip netns exec "$C" tcpdump --immediate-mode -U -q -i any -y "$dlt" -w "$OUT/clean_http_$name.pcap" >/dev/null 2>&1 &
      CAP_PID=$!; sleep 1
      fetch3 http://198.51.100.1/ ;;
    snap128) capture "$OUT/syndata_dropped_snap128.pcap" tcpdump -s 128
      nsr iptables -w -A FORWARD -p tcp --syn -m length --length 81:65535 -j DROP
      fetch3 http://198.51.100.1/ ;;
    snap64) capture "$OUT/clean_http_snap64.pcap" tcpdump -s 64; fetch3 http://198.51.100.1/ ;;
    vlan)
      # This kernel may lack 8021q, so the tags are added to a fresh clean capture by
      # tcprewrite (tcpreplay), a real 802.1Q rewrite of real packets.
      capture "$WORK/vlan_untagged.pcap" tcpdump; fetch3 http://198.51.100.1/; capture_end
      tcprewrite --enet-vlan=add --enet-vlan-tag=100 --enet-vlan-pri=0 --enet-vlan-cfi=0 \
        -i "$WORK/vlan_untagged.pcap" -o "$OUT/clean_http_vlan.pcap"
      return ;;
    *) echo "unknown case $name" >&2; exit 2 ;;
  esac
  capture_end
}

if [ -n "$HOLD" ]; then
  setup
  echo ready
  while read -r _; do :; done
  exit 0
fi
mkdir -p "$OUT"
setup
selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=("${cases[@]}")
for name in "${selected[@]}"; do run_case "$name"; done
echo "captures in $OUT"
