/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PARALLELIZE_PARSER_H_INCLUDED
#define PARALLELIZE_PARSER_H_INCLUDED

#include "cfg-parser.h"
#include "logpipe.h"

/* the element's names: see parallelize-plugin.c */
#define PARALLELIZE_NAME "parallelize"
#define PARALLELIZE_PORTABLE_NAME "worker-pool"

extern CfgParser parallelize_parser;

CFG_PARSER_DECLARE_LEXER_BINDING(parallelize_, PARALLELIZE_, LogPipe **)

#endif
