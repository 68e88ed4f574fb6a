/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE
#include "parallelize-locale.h"

#include <string.h>

/* The process's locale, every category: setlocale(LC_ALL, NULL) names it
 * "C" only when all categories are "C" (a mix reads "LC_CTYPE=...;..."). */
static int
_process_locale_is_c(void)
{
  const char *name = setlocale(LC_ALL, NULL);
  return name && strcmp(name, "C") == 0;
}

void
parallelize_thread_locale_start(ParallelizeThreadLocale *self)
{
  /* glibc returns its static "C" object here (nothing allocated), other
   * C libraries may allocate one: freed in stop */
  self->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t) 0);
  self->on_c_locale = 0;
  parallelize_thread_locale_sync(self);
}

int
parallelize_thread_locale_sync(ParallelizeThreadLocale *self)
{
  int want = self->c_locale != (locale_t) 0 && _process_locale_is_c();
  if (want != self->on_c_locale)
    {
      uselocale(want ? self->c_locale : LC_GLOBAL_LOCALE);
      self->on_c_locale = want;
    }
  return self->on_c_locale;
}

void
parallelize_thread_locale_stop(ParallelizeThreadLocale *self)
{
  if (self->on_c_locale)
    uselocale(LC_GLOBAL_LOCALE);
  self->on_c_locale = 0;
  if (self->c_locale != (locale_t) 0)
    freelocale(self->c_locale);
  self->c_locale = (locale_t) 0;
}
