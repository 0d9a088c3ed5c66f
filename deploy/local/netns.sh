# Network namespaces for `cluster up --netns` (sourced by deploy/local/cluster).
#
# Every host of the cluster (mariadb, the coordinator, each hub, each client)
# gets a namespace of its own, named $NS_PREFIX-<host>, with one interface,
# eth0, and its own address in $NS_SUBNET.0/24. The eth0s are veths whose
# other ends are ports of one bridge, br0, that lives in a namespace of its
# own ($NS_PREFIX-sw), so the host's firewall (Docker's FORWARD policy, for
# one) never sees the cluster's traffic. The host gets one leg on the bridge
# too ($NS_HOSTLEG, address .1): that is where jcsctl, curl and the tests
# reach the client's REST API from, and it counts as the host "user".
#
# Links: every host is in a location (hubN in locN, clients in loc1 unless
# told otherwise; mariadb and the coordinator are the control plane, in no
# location). Traffic between two different locations is shaped on the
# sender's eth0 by an HTB class with the rate --wan-rate (one class per
# remote location, so each pair of locations is one link); traffic within a
# location, and to or from the control plane and the user, is not shaped.
# This kernel has HTB and TBF but not netem (CONFIG_NET_SCH_NETEM is off), so
# links have a rate and no added delay (ns_kernel_offers says which).
#
# Counters: in every namespace an nftables table "inet jcs" counts the bytes
# of every IP packet it sends to each other host (output hook, one rule per
# destination, comment = the destination's name) and of what it receives
# from the user's leg (input hook). `cluster traffic` prints them.
#
# State in $DIR/netns.env (prefix, subnet, rate) and $DIR/netns.hosts (one
# line per host: name address location), so `down` finds everything.

NS_MAX_HOSTS=200

ns_load() {
  [ -f "$DIR/netns.env" ] || return 1
  # shellcheck disable=SC1091
  . "$DIR/netns.env"
}

# The namespace prefix and the host's leg, from the cluster directory, so two
# clusters never share names.
ns_names() {
  local h
  h=$(printf '%s' "$DIR" | sha256sum | cut -c1-8)
  NS_PREFIX=jcs-$h
  NS_HOSTLEG=jcs$h
}

ns_kernel_offers() {
  local q out=""
  for q in htb tbf netem fq; do
    if [ -r /proc/config.gz ]; then
      zcat /proc/config.gz 2>/dev/null | grep -qi "^CONFIG_NET_SCH_${q}=[ym]" && out="$out $q"
    elif modinfo "sch_$q" >/dev/null 2>&1; then
      out="$out $q"
    fi
  done
  echo "${out# }"
}

ns_check_tools() {
  [ "$(id -u)" -eq 0 ] || die "--netns needs root (network namespaces, veths, tc, nftables)"
  local t
  for t in ip tc nft; do
    command -v "$t" >/dev/null || die "--netns needs $t (make deps: iproute2, nftables)"
  done
}

# ns_exec HOST: the command prefix that runs in HOST's namespace (nothing
# without --netns). `ip netns exec` execs the program, so $! is its pid.
ns_exec() {
  if [ -f "$DIR/netns.env" ]; then
    ns_load
    echo "ip netns exec $NS_PREFIX-$1"
  fi
}

ns_addr() { # HOST: its address (empty if unknown)
  [ -f "$DIR/netns.hosts" ] || return 0
  awk -v h="$1" '$1 == h { print $2 }' "$DIR/netns.hosts"
}

ns_loc() {
  awk -v h="$1" '$1 == h { print $3 }' "$DIR/netns.hosts"
}

# Creates the switch namespace, the bridge, the host's leg and netns.env.
ns_create_switch() {
  local rate=$1 n try
  ns_names
  ip netns list | grep -q "^$NS_PREFIX-sw\b" &&
    die "namespaces $NS_PREFIX-* exist already (cluster down --dir $DIR)"
  # A /24 that no interface of this host uses yet.
  n=$(( 0x$(printf '%s' "$DIR" | sha256sum | cut -c9-10) % 200 + 20 ))
  for ((try = 0; try < 200; try++)); do
    ip -4 -o addr show | grep -q " 10\.213\.$n\." || break
    n=$(( (n - 20 + 1) % 200 + 20 ))
  done
  NS_SUBNET=10.213.$n
  NS_WAN_RATE=$rate
  cat >"$DIR/netns.env" <<EOF
NS_PREFIX=$NS_PREFIX
NS_HOSTLEG=$NS_HOSTLEG
NS_SUBNET=$NS_SUBNET
NS_WAN_RATE=$NS_WAN_RATE
EOF
  : >"$DIR/netns.hosts"
  date +%s >"$DIR/netns.started"
  ip netns add "$NS_PREFIX-sw"
  ip -n "$NS_PREFIX-sw" link set lo up
  ip -n "$NS_PREFIX-sw" link add br0 type bridge
  ip -n "$NS_PREFIX-sw" link set br0 up
  ip link add "$NS_HOSTLEG" type veth peer name p-user netns "$NS_PREFIX-sw"
  ip -n "$NS_PREFIX-sw" link set p-user master br0 up
  ip addr add "$NS_SUBNET.1/24" dev "$NS_HOSTLEG"
  ip link set "$NS_HOSTLEG" up
  echo "user $NS_SUBNET.1 -" >>"$DIR/netns.hosts"
}

# ns_add_host NAME OCTET LOCATION: a namespace on the bridge with
# $NS_SUBNET.OCTET, its counters, and the shaping of every host redone.
ns_add_host() {
  local name=$1 addr=$NS_SUBNET.$2 loc=$3 ns=$NS_PREFIX-$1 h a
  [ -z "$(ns_addr "$name")" ] || die "host $name exists already"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add eth0 type veth peer name "p-$name" netns "$NS_PREFIX-sw"
  ip -n "$NS_PREFIX-sw" link set "p-$name" master br0 up
  ip -n "$ns" addr add "$addr/24" dev eth0
  # No segmentation offload: TCP then hands the qdisc packets of one MTU, not
  # 64 KiB super-packets, which HTB lets through whole whenever its bucket is
  # not empty (a small burst would cross a shaped link undelayed).
  ip -n "$ns" link set eth0 gso_max_size 1500
  ip -n "$ns" link set eth0 up
  # Counters: to each host there is, and from the user's leg.
  ip netns exec "$ns" nft -f - <<EOF
table inet jcs {
  chain out { type filter hook output priority 0; policy accept; }
  chain in { type filter hook input priority 0; policy accept;
    ip saddr $NS_SUBNET.1 counter comment "from user"
  }
}
EOF
  while read -r h a _; do
    ip netns exec "$ns" nft add rule inet jcs out ip daddr "$a" counter comment "\"to $h\""
    [ "$h" = user ] ||
      ip netns exec "$NS_PREFIX-$h" nft add rule inet jcs out ip daddr "$addr" counter comment "\"to $name\""
  done <"$DIR/netns.hosts"
  echo "$name $addr $loc" >>"$DIR/netns.hosts"
  while read -r h _ _; do
    [ "$h" = user ] || ns_shape "$h"
  done <"$DIR/netns.hosts"
}

# ns_shape HOST: HOST's egress, from scratch: unshaped by default (class
# 1:1), one class at the WAN rate per other location, and a filter per
# destination in another location.
ns_shape() {
  local h=$1 ns=$NS_PREFIX-$1 loc d a l cls locs=() i
  loc=$(ns_loc "$h")
  tc -n "$ns" qdisc del dev eth0 root 2>/dev/null || true
  [ "$loc" != - ] || return 0
  [ -n "$NS_WAN_RATE" ] && [ "$NS_WAN_RATE" != 0 ] || return 0
  tc -n "$ns" qdisc add dev eth0 root handle 1: htb default 1
  tc -n "$ns" class add dev eth0 parent 1: classid 1:1 htb rate 10gbit quantum 60000
  while read -r d a l; do
    [ "$d" != "$h" ] && [ "$l" != - ] && [ "$l" != "$loc" ] || continue
    cls=
    for ((i = 0; i < ${#locs[@]}; i++)); do [ "${locs[$i]}" = "$l" ] && cls=$((i + 10)); done
    if [ -z "$cls" ]; then
      locs+=("$l")
      cls=$((${#locs[@]} + 9))
      # A small bucket (two packets): a burst cannot cross the link faster than its rate.
      tc -n "$ns" class add dev eth0 parent 1: classid "1:$cls" htb rate "$NS_WAN_RATE" \
        burst 3028 cburst 3028 quantum 60000
    fi
    tc -n "$ns" filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst "$a/32" flowid "1:$cls"
  done <"$DIR/netns.hosts"
}

# Prints "FROM TO BYTES" for every pair with traffic since start (the
# user's sends are counted where they arrive).
ns_traffic_rows() {
  local h a l
  while read -r h a l; do
    [ "$h" != user ] || continue
    ip netns exec "$NS_PREFIX-$h" nft -j list table inet jcs 2>/dev/null |
      jq -r --arg me "$h" '.nftables[] | select(.rule) | .rule |
        [(.comment // ""), ((.expr[] | select(.counter) | .counter.bytes) // 0)] |
        if (.[0] | startswith("to ")) then "\($me) \(.[0][3:]) \(.[1])"
        elif (.[0] == "from user") then "user \($me) \(.[1])" else empty end'
  done <"$DIR/netns.hosts"
}

ns_traffic() {
  ns_load || die "no netns cluster in $DIR"
  local since
  since=$(cat "$DIR/netns.started" 2>/dev/null || date +%s)
  echo "# bytes sent between hosts since $(date -u -d "@$since" '+%Y-%m-%dT%H:%M:%SZ') (IP packets, headers included)"
  printf '%-10s %-10s %14s\n' FROM TO BYTES
  ns_traffic_rows | sort -k1,1 -k2,2 | awk '{ printf "%-10s %-10s %14d\n", $1, $2, $3 }'
}

# Removes every namespace, veth, bridge, qdisc and nftables rule of the
# cluster: they all live in its namespaces (the host's leg dies with its
# peer in the switch namespace), so deleting those is enough, after killing
# whatever still runs in them.
ns_destroy() {
  ns_load || { ns_names; }
  local ns p
  for ns in $(ip netns list | awk '{ print $1 }' | grep "^$NS_PREFIX-"); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  done
  for ns in $(ip netns list | awk '{ print $1 }' | grep "^$NS_PREFIX-"); do
    ip netns del "$ns" 2>/dev/null || true
  done
  ip link del "$NS_HOSTLEG" 2>/dev/null || true
  rm -f "$DIR/netns.env"
}

# What of the cluster is left on this machine (empty when nothing).
ns_leftovers() {
  ns_names
  ip netns list | awk '{ print $1 }' | grep "^$NS_PREFIX-" || true
  ip -o link show | awk -F': ' '{ print $2 }' | grep "^$NS_HOSTLEG" || true
}
