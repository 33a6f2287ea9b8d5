/* The dashboard's page: see dashboard.h. The HTML file is embedded with the
 * assembler's .incbin (CMake makes this object depend on it). */
#include "daemon/dashboard.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

__asm__(".section .rodata\n"
        ".global ns_dashboard_html\n"
        ".type ns_dashboard_html, @object\n"
        ".balign 16\n"
        "ns_dashboard_html:\n"
        ".incbin \"" NETSERV_DASHBOARD_HTML "\"\n"
        ".byte 0\n"
        ".global ns_dashboard_html_end\n"
        "ns_dashboard_html_end:\n"
        ".previous\n");

extern const char ns_dashboard_html[];
extern const char ns_dashboard_html_end[];

const char *dashboard_page(size_t *len)
{
	*len = (size_t)(ns_dashboard_html_end - ns_dashboard_html) - 1;
	return ns_dashboard_html;
}

const char *dashboard_csp(void)
{
	static char csp[512];
	if (csp[0])
		return csp;
	const char *open = strstr(ns_dashboard_html, "<script>");
	const char *close = open ? strstr(open, "</script>") : NULL;
	if (!close || sodium_init() < 0)
		return NULL;
	open += strlen("<script>");
	unsigned char sha[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(sha, (const unsigned char *)open, (unsigned long long)(close - open));
	char b64[sodium_base64_ENCODED_LEN(sizeof(sha), sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(b64, sizeof(b64), sha, sizeof(sha), sodium_base64_VARIANT_ORIGINAL);
	snprintf(csp, sizeof(csp),
	         "default-src 'none'; script-src 'sha256-%s'; style-src 'unsafe-inline'; "
	         "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
	         "frame-ancestors 'none'",
	         b64);
	return csp;
}
