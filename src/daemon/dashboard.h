/* The dashboard's page (src/daemon/dashboard.html, compiled in): served at
 * / by the metrics listener (metrics.c), with a Content-Security-Policy
 * that lets only its own inline script run (by its hash). */
#pragma once

#include <stddef.h>

/* The page (NUL-terminated) and its length. */
const char *dashboard_page(size_t *len);

/* The Content-Security-Policy header value for the page; NULL when it could
 * not be computed (then the page must not be served). */
const char *dashboard_csp(void);
