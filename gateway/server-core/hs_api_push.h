/* hs_api_push: the Client-Server push endpoints (spec v1.12 "Push Notifications"):
 *
 *   GET    /pushrules/  and  /pushrules/global/         the whole ruleset
 *   GET|PUT|DELETE /pushrules/global/{kind}/{ruleId}    (PUT with ?before= / ?after=)
 *   GET|PUT /pushrules/global/{kind}/{ruleId}/enabled
 *   GET|PUT /pushrules/global/{kind}/{ruleId}/actions
 *   GET    /pushers,  POST /pushers/set                 pushers stored and listed
 *
 * Every change wakes /sync (the ruleset is the m.push_rules account data, built by
 * hs_push_rules_for_user). Pushers are validated, stored and listed, but nothing is
 * sent to push gateways yet, and rules are not evaluated against events yet. */
#ifndef HS_API_PUSH_H
#define HS_API_PUSH_H

struct hs_server;

/* Registers the endpoints on the client router (v3 and r0). Returns 0, or -1. */
int hs_api_push_register(struct hs_server *srv);

#endif
