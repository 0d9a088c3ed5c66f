/*
 * method_table.c - the hub's RPC method table: Ping here, then the
 * data-plane methods, which live with the data-plane work (dataplane.c).
 */
#include "hub.h"
#include "hub.pb-c.h"
#include "methods.h"

static int h_ping(jcs_rpc_call *call, void *ctx)
{
    hub *h = ctx;
    ProtobufCMessage *req = NULL;
    int rc = jcs_rpc_call_recv_request(call, &jcs__hub__ping_req__descriptor, (void **)&req);
    if (rc)
        return rc;
    protobuf_c_message_free_unpacked(req, NULL);
    Jcs__Hub__PingResp resp = JCS__HUB__PING_RESP__INIT;
    resp.hub_id = atomic_load(&h->hub_id);
    resp.name = h->cfg.name;
    resp.bulk_port = h->bulk ? jcs_bulk_server_port(h->bulk) : 0;
    return jcs_rpc_call_send(call, &resp.base);
}

#define MAX_METHODS 32

/* Ping, then the data-plane methods; built once at start-up, before any thread. */
const jcs_rpc_method *hub_methods(size_t *n)
{
    static jcs_rpc_method table[MAX_METHODS];
    static size_t count;
    if (!count) {
        size_t nd;
        const jcs_rpc_method *dp = hub_dataplane_methods(&nd);
        table[count++] = (jcs_rpc_method){JCS_M_PING, JCS_ROLE_ANY, h_ping};
        for (size_t i = 0; i < nd && count < MAX_METHODS; i++)
            table[count++] = dp[i];
    }
    *n = count;
    return table;
}
