/* hs_api_push: the Client-Server push endpoints (spec v1.12 "Push Notifications"):
 *
 *   GET    /pushrules/  and  /pushrules/global/         the whole ruleset
 *   GET|PUT|DELETE /pushrules/global/{kind}/{ruleId}    (PUT with ?before= / ?after=)
 *   GET|PUT /pushrules/global/{kind}/{ruleId}/enabled
 *   GET|PUT /pushrules/global/{kind}/{ruleId}/actions
 *   GET    /pushers,  POST /pushers/set                 pushers stored and listed
 *
 * Every change stores the whole ruleset (hs_push_rules_for_user) as the user's
 * m.push_rules global account data, so /sync delivers it as it delivers any account data
 * change. (A user who never changed a rule has no such account data yet; /sync may add
 * hs_push_rules_for_user to initial syncs.) Pushers are validated, stored and listed,
 * but nothing is sent to push gateways yet (hs_push_eval decides what would be). */
#ifndef HS_API_PUSH_H
#define HS_API_PUSH_H

struct hs_server;

/* Registers the endpoints on the client router (v3 and r0). Returns 0, or -1. */
int hs_api_push_register(struct hs_server *srv);

#endif
