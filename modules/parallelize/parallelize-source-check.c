/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Config-time sanity warnings about the sources that feed a parallelize().
 *
 * syslog-ng keeps the options of a tcp() source inside the driver's private
 * struct, which no installed header describes (the afsocket module's headers
 * are not installed on any release we build for).  So this reads the
 * preprocessed configuration text instead: it finds the log {} statements
 * around our location marker (set by the generator), the sources they name
 * (inline or by reference), and their log-iw-size(), max-connections() and
 * log-fetch-limit() values, with syslog-ng's defaults where one is missing.
 * Numbers are read by the host's own parser (10M, 10Mi, 1k, 0x10, 010), as
 * its lexer reads them; a value it cannot read (a backtick left over, an
 * expression) makes the check say nothing rather than guess.
 */
#include "parallelize-source-check.h"
#include "parallelize-compat.h"

#include "messages.h"

#include <string.h>

#define DEFAULT_LOG_IW_SIZE 100
#define DEFAULT_FETCH_LIMIT 10
#define DEFAULT_MAX_CONNECTIONS 10
#define UNIX_STREAM_MAX_CONNECTIONS 256

typedef enum
{
  TOK_WORD,
  TOK_STRING,
  TOK_PUNCT
} TokenKind;

typedef struct _Token
{
  TokenKind kind;
  const gchar *text;
  gsize len;
  gint match; /* for ( and {: index of the closing token */
} Token;

typedef struct _SourceCheck
{
  GArray *tokens;
  const gchar *location;
  gint workers;
  gint batch_size;
} SourceCheck;

static gboolean
_is_punct(gchar c)
{
  return c == '(' || c == ')' || c == '{' || c == '}' || c == ';' || c == ',';
}

static void
_push(GArray *tokens, TokenKind kind, const gchar *text, gsize len)
{
  Token token = {.kind = kind, .text = text, .len = len, .match = -1};
  g_array_append_val(tokens, token);
}

static GArray *
_tokenize(const gchar *p)
{
  GArray *tokens = g_array_new(FALSE, FALSE, sizeof(Token));
  while (*p)
    {
      if (g_ascii_isspace(*p))
        p++;
      else if (*p == '#')
        {
          while (*p && *p != '\n')
            p++;
        }
      else if (*p == '"' || *p == '\'')
        {
          gchar quote = *p;
          const gchar *start = ++p;
          while (*p && *p != quote)
            p += (*p == '\\' && quote == '"' && p[1]) ? 2 : 1;
          _push(tokens, TOK_STRING, start, p - start);
          if (*p)
            p++;
        }
      else if (_is_punct(*p))
        {
          _push(tokens, TOK_PUNCT, p, 1);
          p++;
        }
      else
        {
          const gchar *start = p;
          while (*p && !g_ascii_isspace(*p) && !_is_punct(*p) && *p != '"' && *p != '\'' && *p != '#')
            p++;
          _push(tokens, TOK_WORD, start, p - start);
        }
    }

  /* pair the brackets */
  GArray *open = g_array_new(FALSE, FALSE, sizeof(gint));
  for (gint i = 0; i < (gint) tokens->len; i++)
    {
      Token *t = &g_array_index(tokens, Token, i);
      if (t->kind != TOK_PUNCT)
        continue;
      if (t->text[0] == '(' || t->text[0] == '{')
        g_array_append_val(open, i);
      else if ((t->text[0] == ')' || t->text[0] == '}') && open->len > 0)
        {
          gint o = g_array_index(open, gint, open->len - 1);
          g_array_set_size(open, open->len - 1);
          g_array_index(tokens, Token, o).match = i;
        }
    }
  g_array_free(open, TRUE);
  return tokens;
}

static Token *
_tok(SourceCheck *self, gint i)
{
  if (i < 0 || i >= (gint) self->tokens->len)
    return NULL;
  return &g_array_index(self->tokens, Token, i);
}

/* a word, compared with - and _ as the same character */
static gboolean
_is_word(Token *t, const gchar *word)
{
  if (!t || t->kind != TOK_WORD || t->len != strlen(word))
    return FALSE;
  for (gsize i = 0; i < t->len; i++)
    {
      gchar a = t->text[i] == '_' ? '-' : t->text[i];
      gchar b = word[i] == '_' ? '-' : word[i];
      if (a != b)
        return FALSE;
    }
  return TRUE;
}

static gboolean
_is_punct_tok(Token *t, gchar c)
{
  return t && t->kind == TOK_PUNCT && t->text[0] == c;
}

static gchar *
_text(Token *t)
{
  return g_strndup(t->text, t->len);
}

/* the { of a top-level "source NAME {" */
static gint
_find_source_definition(SourceCheck *self, Token *name)
{
  for (gint i = 0; i < (gint) self->tokens->len; i++)
    {
      Token *t = _tok(self, i);
      if (_is_punct_tok(t, '{') || _is_punct_tok(t, '('))
        {
          /* only top level: skip whole blocks, but look at what precedes them */
          if (_is_punct_tok(t, '{') && i >= 2 && _is_word(_tok(self, i - 2), "source"))
            {
              Token *candidate = _tok(self, i - 1);
              if (candidate->len == name->len && memcmp(candidate->text, name->text, name->len) == 0)
                return i;
            }
          if (t->match > i)
            i = t->match;
        }
    }
  return -1;
}

/* the value of option(...) among the tokens from..to, fallback when the option is
 * not there; FALSE when it is there but not a number the host reads */
static gboolean
_option_value(SourceCheck *self, gint from, gint to, const gchar *option, gint64 fallback, gint64 *value)
{
  *value = fallback;
  for (gint i = from; i + 1 < to; i++)
    {
      Token *paren = _tok(self, i + 1);
      if (!_is_word(_tok(self, i), option) || !_is_punct_tok(paren, '('))
        continue;
      Token *number = _tok(self, i + 2);
      if (paren->match != i + 3 || number->kind != TOK_WORD)
        return FALSE;
      gchar *text = _text(number);
      gboolean ok = parallelize_parse_number(text, value);
      g_free(text);
      return ok;
    }
  return TRUE;
}

static gint
_default_max_connections(Token *driver)
{
  if (_is_word(driver, "tcp") || _is_word(driver, "tcp6") || _is_word(driver, "syslog") || _is_word(driver, "network"))
    return DEFAULT_MAX_CONNECTIONS;
  if (_is_word(driver, "unix-stream"))
    return UNIX_STREAM_MAX_CONNECTIONS;
  return 1;
}

/* every driver "name(...)" directly inside a source body */
static void
_check_source_body(SourceCheck *self, gint open, const gchar *source_name)
{
  Token *body = _tok(self, open);
  for (gint i = open + 1; i < body->match; i++)
    {
      Token *driver = _tok(self, i);
      Token *paren = _tok(self, i + 1);
      if (driver->kind == TOK_WORD && _is_punct_tok(paren, '('))
        {
          gint from = i + 2, to = paren->match;
          gint64 iw_size, max_connections, fetch_limit;
          gboolean window_known =
            _option_value(self, from, to, "log-iw-size", DEFAULT_LOG_IW_SIZE, &iw_size) &
            _option_value(self, from, to, "max-connections", _default_max_connections(driver), &max_connections);
          gboolean fetch_known = _option_value(self, from, to, "log-fetch-limit", DEFAULT_FETCH_LIMIT, &fetch_limit);
          gint64 per_connection = max_connections > 0 ? iw_size / max_connections : iw_size;
          gint64 needed = (gint64) self->workers * MAX(self->batch_size, 1);
          gchar *driver_name = g_strdup_printf("%.*s()", (int) driver->len, driver->text);

          if (window_known && per_connection < needed)
            msg_warning("parallelize(): the source's window per connection is too small to keep the workers busy, "
                        "raise log-iw-size() (a message waiting for a worker still holds its window slot)",
                        evt_tag_str("source", source_name),
                        evt_tag_str("driver", driver_name),
                        evt_tag_printf("log_iw_size", "%" G_GINT64_FORMAT, iw_size),
                        evt_tag_printf("max_connections", "%" G_GINT64_FORMAT, max_connections),
                        evt_tag_printf("window_per_connection", "%" G_GINT64_FORMAT, per_connection),
                        evt_tag_printf("workers_x_batch_size", "%" G_GINT64_FORMAT, needed),
                        evt_tag_str("location", self->location));
          if (fetch_known && fetch_limit > PARALLELIZE_HOST_MAX_SOURCE_FETCH_LIMIT)
            msg_warning("parallelize(): log-fetch-limit() above 65535 breaks flow control in syslog-ng 3.38, "
                        "keep it at or below 65535",
                        evt_tag_str("source", source_name),
                        evt_tag_str("driver", driver_name),
                        evt_tag_printf("log_fetch_limit", "%" G_GINT64_FORMAT, fetch_limit),
                        evt_tag_str("location", self->location));
          g_free(driver_name);
          i = paren->match;
        }
      else if ((_is_punct_tok(driver, '(') || _is_punct_tok(driver, '{')) && driver->match > i)
        i = driver->match;
    }
}

/* sources named or written directly inside the block opened at index open */
static void
_check_block_sources(SourceCheck *self, gint open)
{
  Token *block = _tok(self, open);
  for (gint i = open + 1; i < block->match; i++)
    {
      Token *t = _tok(self, i);
      Token *next = _tok(self, i + 1);
      if (_is_word(t, "source") && _is_punct_tok(next, '(') && _tok(self, i + 2))
        {
          Token *name = _tok(self, i + 2);
          gint definition = _find_source_definition(self, name);
          if (definition >= 0)
            {
              gchar *source_name = _text(name);
              _check_source_body(self, definition, source_name);
              g_free(source_name);
            }
          i = next->match > i ? next->match : i;
        }
      else if (_is_word(t, "source") && _is_punct_tok(next, '{'))
        {
          _check_source_body(self, i + 1, "(inline source)");
          i = next->match > i ? next->match : i;
        }
      else if ((_is_punct_tok(t, '(') || _is_punct_tok(t, '{')) && t->match > i)
        i = t->match;
    }
}

static gint
_find_marker(SourceCheck *self)
{
  for (gint i = 0; i + 2 < (gint) self->tokens->len; i++)
    {
      Token *value = _tok(self, i + 2);
      if (_is_word(_tok(self, i), "__parallelize_location") && value->kind == TOK_STRING &&
          value->len == strlen(self->location) && memcmp(value->text, self->location, value->len) == 0)
        return i;
    }
  return -1;
}

void
parallelize_check_sources(const gchar *config_text, const gchar *location, gint workers, gint batch_size)
{
  if (!config_text || workers <= 0)
    return;

  SourceCheck self = {
    .tokens = _tokenize(config_text), .location = location, .workers = workers, .batch_size = batch_size};
  gint marker = _find_marker(&self);
  if (marker >= 0)
    {
      /* every block around the marker: our parser {}, the log {} it sits in, and the ones around that */
      for (gint i = 0; i < marker; i++)
        {
          Token *t = _tok(&self, i);
          if (_is_punct_tok(t, '{') && t->match > marker)
            _check_block_sources(&self, i);
        }
    }
  g_array_free(self.tokens, TRUE);
}
