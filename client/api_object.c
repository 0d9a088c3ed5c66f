/* REST handlers: objects (API.md "Objects"). Being written. */
#include "svc.h"

const jcs_http_route jcs_api_object_routes[1];
const size_t jcs_api_object_nroutes = 0;
