/* routes.h -- the login service: its state, and the answer to one request.
 *
 * A struct routes lives as long as the process: the configuration, the parsed CORS list, the
 * database connection (opened once, reopened only after it failed) and one body buffer of
 * TOKENAUTH_MAX_BODY + 1 bytes, so a request allocates nothing of its own; OpenSSL's PBKDF2
 * prepared once (password_kdf) and the logins' read cache (readcache.h). Routes:
 *   POST /api/login[/]    form, JSON or multipart username + password -> 200 {"token": key}
 *   POST /api/logout[/]   Authorization: Token <key> -> 204, the token deleted
 *   OPTIONS on either     the CORS preflight -> 204
 *   POST /api/publish[/]  Authorization: Bearer <TOKENAUTH_PUBLISH_KEY>, JSON {"channel": C or
 *                         "channels": [C, ...], "data": X} -> 200 {"published": N}, the message
 *                         PUBLISHed to Redis (bus.h); 404 when no key is set; no CORS
 * It also keeps one Redis publisher (bus.h), connected at the first publication.
 * Every request writes one log line to stderr (log.h), without password, token, publish key or
 * published data. */
#ifndef TOKENAUTH_ROUTES_H
#define TOKENAUTH_ROUTES_H

#include <stddef.h>

#include "config.h"
#include "response.h"

#define ROUTES_OK 0
#define ROUTES_ERR_CONFIG -1 /* a setting cannot be used (the CORS list): err says why */
#define ROUTES_ERR_NOMEM -2

#define ROUTES_RETRY_AFTER_S "2" /* Retry-After of a 503 */

struct routes;

#define ROUTES_READ_TIMEOUT -2 /* what a body reader returns past its deadline: 408 */

/* Reads up to len bytes of the request body into buf: returns the count (0 at the end of the
 * body), ROUTES_READ_TIMEOUT when the body did not arrive in time, or another negative value on
 * error. */
typedef long (*routes_read_fn)(void *ctx, char *buf, size_t len);

/* Makes the service state from a validated configuration (copied). Tries to open the database;
 * failing that is no error (requests answer 503 and retry the open). Returns ROUTES_OK with *out
 * set, or an error with err filled. Free with routes_destroy. */
int routes_create(const struct config *cfg, struct routes **out, char *err, size_t err_len);

/* Frees the state and closes the database; NULL is allowed. */
void routes_destroy(struct routes *s);

/* Answers one request: envp is its CGI environment, read/read_ctx its body. Fills r (always a
 * complete response, never a 500 for anything but a bug) and logs the request. */
void routes_handle(struct routes *s, char *const *envp, routes_read_fn read, void *read_ctx,
                   struct response *r);

#endif
