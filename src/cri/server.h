/* The CRI methods as the rpc layer registers them. */
#pragma once

#include <stddef.h>

#include "rpc/rpc.h"

extern const struct rpc_method cri_methods[];
extern const size_t cri_n_methods;
