/*
 * methods.h - the gRPC method paths of every service, in one place, so a
 * caller and the server table can never disagree on a spelling. Messages
 * are in the proto/ files; which roles may call each method is stated there
 * and enforced by each server's method table.
 */
#ifndef JCS_METHODS_H
#define JCS_METHODS_H

#define JCS_COORD_SVC             "/jcs.coordinator.Coordinator/"
#define JCS_M_REGISTER_HUB        JCS_COORD_SVC "RegisterHub"
#define JCS_M_HEARTBEAT           JCS_COORD_SVC "Heartbeat"
#define JCS_M_LIST_HUBS           JCS_COORD_SVC "ListHubs"
#define JCS_M_LIST_LOCATIONS      JCS_COORD_SVC "ListLocations"
#define JCS_M_REPORT_CONNECTIVITY JCS_COORD_SVC "ReportConnectivity"
#define JCS_M_GET_CONNECTIVITY    JCS_COORD_SVC "GetConnectivity"
#define JCS_M_LOCK                JCS_COORD_SVC "Lock"
#define JCS_M_RENEW               JCS_COORD_SVC "Renew"
#define JCS_M_UNLOCK              JCS_COORD_SVC "Unlock"

#define JCS_HUB_SVC            "/jcs.hub.Hub/"
#define JCS_M_PING             JCS_HUB_SVC "Ping"
#define JCS_M_EXECUTE_FRAGMENT JCS_HUB_SVC "ExecuteFragment"
#define JCS_M_PUSH_STREAM      JCS_HUB_SVC "PushStream"
#define JCS_M_PULL_STREAM      JCS_HUB_SVC "PullStream"
#define JCS_M_PUSH_VAR         JCS_HUB_SVC "PushVar"
#define JCS_M_PULL_VAR         JCS_HUB_SVC "PullVar"
#define JCS_M_LIST_SHARDS      JCS_HUB_SVC "ListShards"
#define JCS_M_STAT_SHARD       JCS_HUB_SVC "StatShard"
#define JCS_M_DELETE_SHARDS    JCS_HUB_SVC "DeleteShards"
#define JCS_M_READ_SHARD       JCS_HUB_SVC "ReadShard"
#define JCS_M_WRITE_SHARD      JCS_HUB_SVC "WriteShard"

/*
 * The most bytes one ReadShard answers or one WriteShard carries: both are
 * single messages without a plan, meant for small objects. The hub enforces
 * it; the client's driver checks it before calling.
 */
#define JCS_SHARD_CALL_MAX (4 << 20)

#endif
