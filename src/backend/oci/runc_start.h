#pragma once

/* Starts the created runc container id under runc's state root the way
 * `runc start` does, without runc: 1 started, 0 not taken (not the plain
 * case, or something unexpected) -- then run `runc start` itself. */
int runc_start_fast(const char *root, const char *id);
