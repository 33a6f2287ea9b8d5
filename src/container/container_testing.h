/* TEST BUILD ONLY (netserv-container-testing): commands that make a container
 * misbehave, for the security tests. See container_testing.c. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* If the packet is a test command, runs it, replaces the packet by the
 * result text and returns true; otherwise returns false. */
bool container_testing_packet(uint8_t *data, uint32_t *len, uint32_t cap);

/* The container's queue socket and verdict channel (-1: none), for the
 * commands that send on them. */
void container_testing_set_queue(int nl_fd, int verdict_fd);
