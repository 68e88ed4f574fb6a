/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PARALLELIZE_PARSER_H_INCLUDED
#define PARALLELIZE_PARSER_H_INCLUDED

#include "cfg-parser.h"
#include "logpipe.h"

extern CfgParser parallelize_parser;

CFG_PARSER_DECLARE_LEXER_BINDING(parallelize_, PARALLELIZE_, LogPipe **)

#endif
