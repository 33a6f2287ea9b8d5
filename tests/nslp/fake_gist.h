/* Test controls of the in-process GIST fake (fake_gist.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "gist/gist_api.h"

/* Forgets the chain (the nodes must be freed already). */
void fake_gist_reset(void);

/* A node that swallows what it is sent: GIST_SENT to the sender, nothing to
 * its NSLP (a next node that never answers). */
void fake_gist_swallow(struct gist_node *n, bool on);

/* The node's address (10.0.<position>.1) and the user's (10.99.0.1). */
void fake_gist_addr(const struct gist_node *n, uint8_t addr[4]);
void fake_gist_user_addr(uint8_t addr[4]);
