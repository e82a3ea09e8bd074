/* test_csv.c - the streaming CSV reader: RFC 4180 quoting, line ends, blank lines, the BOM,
 * whitespace-separated files, UTF-8 checks and Latin-1, error positions, files read in chunks
 * of every size from 1 to 64 bytes (so that records straddle every boundary), and allocation
 * failures. Every case is checked from memory and from a file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "io/csv_internal.h"
#include <retain/alloc.h>
#include <retain/csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads every record of c into a malloc'd text: "LINE:<f1><f2>...\n" per record, then "END" or
 * "ERR(code): message" with the reader's name in the message replaced by "t.csv". Checks the
 * NUL after every field and that the reader ends with every byte read. */
static char *dump(rt_csv *c) {
  char *text = NULL;
  size_t size = 0;
  FILE *fp = open_memstream(&text, &size);
  assert_non_null(fp);
  rt_csv_record rec;
  rt_error err = {0};
  int rc;
  while ((rc = rt_csv_next(c, &rec, &err)) == 1) {
    fprintf(fp, "%llu:", (unsigned long long)rec.line);
    assert_true(rec.nfields >= 1);
    for (size_t i = 0; i < rec.nfields; i++) {
      assert_int_equal(rec.fields[i][rec.lens[i]], '\0');
      fputc('<', fp);
      fwrite(rec.fields[i], 1, rec.lens[i], fp);
      fputc('>', fp);
    }
    fputc('\n', fp);
  }
  if (rc == 0) {
    fputs("END", fp);
    if (rt_csv_bytes_total(c))
      assert_int_equal(rt_csv_bytes_read(c), rt_csv_bytes_total(c));
    assert_int_equal(rt_csv_next(c, &rec, &err), 0); /* the end stays the end */
  } else {
    const char *name = rt_csv_name(c), *msg = err.msg;
    size_t nl = strlen(name);
    assert_int_equal(err.code, rc);
    fprintf(fp, "ERR(%d): ", rc);
    if (strncmp(msg, name, nl) == 0) {
      fputs("t.csv", fp);
      msg += nl;
    }
    fputs(msg, fp);
    /* a parse error is repeated by every later call */
    rt_error again = {0};
    assert_int_equal(rt_csv_next(c, &rec, &again), rc);
    assert_string_equal(again.msg, err.msg);
  }
  fclose(fp);
  return text;
}

static char *write_temp(const char *data, size_t len) {
  char *path = strdup("/tmp/rt_test_csv_XXXXXX");
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  close(fd);
  return path;
}

static char *dump_mem(const char *data, size_t len, const rt_csv_opts *o) {
  rt_csv *c;
  rt_error err = {0};
  /* a private copy, so that ASan sees any read past the end */
  char *copy = malloc(len ? len : 1);
  memcpy(copy, data, len);
  assert_int_equal(rt_csv_open_mem(copy, len, "t.csv", o, &c, &err), 0);
  assert_string_equal(rt_csv_name(c), "t.csv");
  assert_int_equal(rt_csv_bytes_total(c), len);
  char *d = dump(c);
  rt_csv_close(c);
  assert_memory_equal(copy, data, len); /* memory input is never written */
  free(copy);
  return d;
}

/* chunk 0: the default read size */
static char *dump_file(const char *path, size_t chunk, const rt_csv_opts *o) {
  rt_csv *c;
  rt_error err = {0};
  assert_int_equal(rt_csv_open_file(path, o, &c, &err), 0);
  if (chunk)
    rt__csv_set_chunk(c, chunk);
  char *d = dump(c);
  rt_csv_close(c);
  return d;
}

/* Checks that data reads as expected from memory and from a file at every chunk size. */
static void check_n(const char *data, size_t len, const rt_csv_opts *o, const char *expected) {
  char *d = dump_mem(data, len, o);
  if (strcmp(d, expected) != 0)
    fprintf(stderr, "memory input gave:\n%s\nexpected:\n%s\n", d, expected);
  assert_string_equal(d, expected);
  free(d);
  char *path = write_temp(data, len);
  for (size_t chunk = 0; chunk <= 64; chunk++) {
    d = dump_file(path, chunk, o);
    if (strcmp(d, expected) != 0)
      fprintf(stderr, "file input, chunk %zu, gave:\n%s\n", chunk, d);
    assert_string_equal(d, expected);
    free(d);
  }
  unlink(path);
  free(path);

  /* again with 64 blank lines after it, which change nothing but let the 64-byte fast path see
   * every case (it only looks at whole blocks) */
  char *padded = malloc(len + 64);
  memcpy(padded, data, len);
  memset(padded + len, '\n', 64);
  d = dump_mem(padded, len + 64, o);
  if (strcmp(d, expected) != 0)
    fprintf(stderr, "padded memory input gave:\n%s\n", d);
  assert_string_equal(d, expected);
  free(d);
  path = write_temp(padded, len + 64);
  d = dump_file(path, 0, o);
  assert_string_equal(d, expected);
  free(d);
  unlink(path);
  free(path);
  free(padded);
}

static void check(const char *data, const rt_csv_opts *o, const char *expected) {
  check_n(data, strlen(data), o, expected);
}

static const rt_csv_opts WS = {.whitespace = 1};
static const rt_csv_opts LATIN1 = {.encoding = RT_ENC_LATIN1};

static void test_basic(void **state) {
  (void)state;
  check("id,name,amount\n1,alice,10.50\n2,bob,3\n", NULL,
        "1:<id><name><amount>\n2:<1><alice><10.50>\n3:<2><bob><3>\nEND");
  check("a,b,c", NULL, "1:<a><b><c>\nEND"); /* no final line end */
  check("a,b,\n,\n,,x", NULL, "1:<a><b><>\n2:<><>\n3:<><><x>\nEND");
  check("", NULL, "END");
  check("x", NULL, "1:<x>\nEND");
  check(" a , b \n", NULL, "1:< a >< b >\nEND"); /* blanks belong to fields */
}

static void test_quotes(void **state) {
  (void)state;
  check("\"a,b\",\"c\"\"d\",\"\"\n\"\"\"\",e\n", NULL, "1:<a,b><c\"d><>\n2:<\"><e>\nEND");
  /* quoted line breaks are kept, and the next record's line counts them */
  check("\"multi\nline\",x\ny,z\n", NULL, "1:<multi\nline><x>\n3:<y><z>\nEND");
  check("\"a\r\nb\"\r\nc\r\n", NULL, "1:<a\r\nb>\n3:<c>\nEND");
  check("\"a\rb\",1\nc\n", NULL, "1:<a\rb><1>\n3:<c>\nEND");
  check("\"x\",\"\n\n\n\"\n\"y\"", NULL, "1:<x><\n\n\n>\n5:<y>\nEND");
  check("\"a\"", NULL, "1:<a>\nEND");
  check("\"\"", NULL, "1:<>\nEND"); /* a quoted empty field is a record, not a blank line */
  check("\"a\"\"\"", NULL, "1:<a\">\nEND");
  check("a,\"b\"\r\n", NULL, "1:<a><b>\nEND");
  check("a,\"b\"\rc", NULL, "1:<a><b>\n2:<c>\nEND");
}

static void test_line_ends(void **state) {
  (void)state;
  check("a,b\r\nc,d\re,f\n\ng\r\n\r\nh", NULL,
        "1:<a><b>\n2:<c><d>\n3:<e><f>\n5:<g>\n7:<h>\nEND");
  check("a\r", NULL, "1:<a>\nEND");
  check("a\r\r\n\rb\n", NULL, "1:<a>\n4:<b>\nEND");
  check("\n\r\n\r\n\n", NULL, "END");
  check("\n\nx\n", NULL, "3:<x>\nEND");
}

static void test_blank_lines(void **state) {
  (void)state;
  /* in CSV mode only empty lines are blank: " a" and "," are records */
  check("\n\n a\n\r\n,\n\"\"\n\n", NULL, "3:< a>\n5:<><>\n6:<>\nEND");
  check("  \n", NULL, "1:<  >\nEND");
  check("  \n\t \r\n x\n", &WS, "3:<x>\nEND");
  check("a\n   ", &WS, "1:<a>\nEND");
  check("a\n \t \n", &WS, "1:<a>\nEND");
}

static void test_bom(void **state) {
  (void)state;
  check("\xEF\xBB\xBF"
        "a,b\n",
        NULL, "1:<a><b>\nEND");
  check("\xEF\xBB\xBF", NULL, "END");
  check("\xEF\xBB\xBF\n\nz", NULL, "3:<z>\nEND");
  check("\xEF\xBB", NULL,
        "ERR(-4): t.csv:1:1: invalid UTF-8 byte 0xEF (use --encoding latin1 if the file is "
        "Latin-1)");
  /* columns count from after the BOM */
  check("\xEF\xBB\xBF"
        "ab\"c\n",
        NULL, "ERR(-4): t.csv:1:3: stray quote in an unquoted field");
  /* only at the very start */
  check("a\n\xEF\xBB\xBF"
        "b\n",
        NULL, "1:<a>\n2:<\xEF\xBB\xBF"
              "b>\nEND");
}

static void test_delimiters(void **state) {
  (void)state;
  rt_csv_opts semi = {.delimiter = ';'}, tab = {.delimiter = '\t'}, bar = {.delimiter = '|'};
  check("a;b,c\n\"x;y\";2\n", &semi, "1:<a><b,c>\n2:<x;y><2>\nEND");
  check("a\tb c\n\t\n", &tab, "1:<a><b c>\n2:<><>\nEND");
  check("1|2||\n", &bar, "1:<1><2><><>\nEND");

  rt_csv *c = (rt_csv *)1;
  rt_error err = {0};
  rt_csv_opts bad = {.delimiter = '"'};
  assert_int_equal(rt_csv_open_mem("a", 1, "t.csv", &bad, &c, &err), RT_EINVAL);
  assert_null(c);
  assert_non_null(strstr(err.msg, "t.csv"));
  bad.delimiter = '\n';
  assert_int_equal(rt_csv_open_mem("a", 1, "t.csv", &bad, &c, &err), RT_EINVAL);
  bad.delimiter = (char)0xE9;
  assert_int_equal(rt_csv_open_mem("a", 1, "t.csv", &bad, &c, &err), RT_EINVAL);
  bad.delimiter = ',';
  bad.encoding = (rt_encoding)7;
  assert_int_equal(rt_csv_open_mem("a", 1, "t.csv", &bad, &c, &err), RT_EINVAL);
  /* the delimiter does not matter in whitespace mode */
  rt_csv_opts ws = {.whitespace = 1, .delimiter = '"'};
  check("a b\n", &ws, "1:<a><b>\nEND");
}

static void test_whitespace(void **state) {
  (void)state;
  check("00001 19970101  1   11.77\n  00002\t19970102 2 3.5  \n", &WS,
        "1:<00001><19970101><1><11.77>\n2:<00002><19970102><2><3.5>\nEND");
  check("\"a b\"  c\t\"\"\n\"x\ny\" z", &WS, "1:<a b><c><>\n2:<x\ny><z>\nEND");
  check("a,b c\r\n d \r\n", &WS, "1:<a,b><c>\n2:<d>\nEND");
  check("a b  ", &WS, "1:<a><b>\nEND");
  check("a b\t\r", &WS, "1:<a><b>\nEND");
  check(" \"a\"\t", &WS, "1:<a>\nEND");
  check("x \"ab\"c\n", &WS, "ERR(-4): t.csv:1:7: text after closing quote");
  check("x ab\"c\n", &WS, "ERR(-4): t.csv:1:5: stray quote in an unquoted field");
  check("x\n  \"ab\n", &WS, "1:<x>\nERR(-4): t.csv:2:3: unterminated quote");
}

static void test_errors(void **state) {
  (void)state;
  check("a,b\nc,\"de\nf\n", NULL, "1:<a><b>\nERR(-4): t.csv:2:3: unterminated quote");
  /* the quote that is left open starts on the second line of its record */
  check("x,\"a\nb\",\"c\n", NULL, "ERR(-4): t.csv:2:4: unterminated quote");
  check("\"", NULL, "ERR(-4): t.csv:1:1: unterminated quote");
  check("ab\"c\n", NULL, "ERR(-4): t.csv:1:3: stray quote in an unquoted field");
  check("ok\n\xC3\xA9,ab\"c", NULL, "1:<ok>\nERR(-4): t.csv:2:5: stray quote in an unquoted field");
  check("x,\"ab\"c\n", NULL, "ERR(-4): t.csv:1:7: text after closing quote");
  check("\"a\" ,b", NULL, "ERR(-4): t.csv:1:4: text after closing quote");
  check("\"a\n\xE2\x82\xAC\"x", NULL, "ERR(-4): t.csv:2:3: text after closing quote");
  check("id\ncaf\xE9,1\n", NULL,
        "1:<id>\nERR(-4): t.csv:2:4: invalid UTF-8 byte 0xE9 (use --encoding latin1 if the file "
        "is Latin-1)");
  const char *tail = " (use --encoding latin1 if the file is Latin-1)";
  char want[256];
  struct {
    const char *in, *where;
    unsigned byte;
  } bad[] = {
      {"\xC3\xA9\xFF", "1:2", 0xFF},          /* a column counts characters */
      {"ab\xC3", "1:3", 0xC3},                /* cut short by the end */
      {"ab\xC3,", "1:3", 0xC3},               /* cut short by a delimiter */
      {"\xC0\xAF", "1:1", 0xC0},              /* overlong */
      {"\xE0\x80\xAF", "1:1", 0xE0},          /* overlong */
      {"\xF0\x80\x80\xAF", "1:1", 0xF0},      /* overlong */
      {"\xED\xA0\x80", "1:1", 0xED},          /* a surrogate */
      {"\xF4\x90\x80\x80", "1:1", 0xF4},      /* past U+10FFFF */
      {"\xF8\x88\x80\x80\x80", "1:1", 0xF8},  /* no such lead byte */
      {"\x80", "1:1", 0x80},                  /* a lone continuation byte */
      {"x,\"a\nb\xE9\"", "2:2", 0xE9},        /* inside a quoted field */
      {"a b,\t\xE9", "1:6", 0xE9},            /* a tab is one column */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(want, sizeof want, "ERR(-4): t.csv:%s: invalid UTF-8 byte 0x%02X%s", bad[i].where,
             bad[i].byte, tail);
    check(bad[i].in, NULL, want);
  }
  /* valid UTF-8 of every length passes */
  check("\xC3\xA9,\xE2\x82\xAC,\xF0\x9F\x98\x80,\xF4\x8F\xBF\xBF,\xEF\xBF\xBD\n", NULL,
        "1:<\xC3\xA9><\xE2\x82\xAC><\xF0\x9F\x98\x80><\xF4\x8F\xBF\xBF><\xEF\xBF\xBD>\nEND");
  check("\"\xC3\xA9\"\"\xE2\x82\xAC\"", NULL, "1:<\xC3\xA9\"\xE2\x82\xAC>\nEND");
}

static void test_latin1(void **state) {
  (void)state;
  check("caf\xE9,\"\xE9\"\"x\"\n\xFF\x80\n", &LATIN1,
        "1:<caf\xC3\xA9><\xC3\xA9\"x>\n2:<\xC3\xBF\xC2\x80>\nEND");
  /* every byte is one character */
  check("\xE9\xE9"
        "ab\"c",
        &LATIN1, "ERR(-4): t.csv:1:5: stray quote in an unquoted field");
  rt_csv_opts ws = {.whitespace = 1, .encoding = RT_ENC_LATIN1};
  check("\xE9 \"\xE8\"\n", &ws, "1:<\xC3\xA9><\xC3\xA8>\nEND");
}

static void test_files(void **state) {
  (void)state;
  const char *text = "a,b\n1,2\n";
  char *path = write_temp(text, strlen(text));
  rt_csv *c;
  rt_error err = {0};
  assert_int_equal(rt_csv_open_file(path, NULL, &c, &err), 0);
  assert_string_equal(rt_csv_name(c), path);
  assert_int_equal(rt_csv_bytes_total(c), 8);
  assert_int_equal(rt_csv_bytes_read(c), 0);
  rt_csv_record rec;
  assert_int_equal(rt_csv_next(c, &rec, &err), 1);
  assert_int_equal(rt_csv_bytes_read(c), 4);
  assert_int_equal(rt_csv_next(c, &rec, &err), 1);
  assert_string_equal(rec.fields[1], "2");
  assert_int_equal(rt_csv_bytes_read(c), 8);
  assert_int_equal(rt_csv_next(c, &rec, &err), 0);
  rt_csv_close(c);

  /* memory input: progress too */
  assert_int_equal(rt_csv_open_mem(text, 8, NULL, NULL, &c, &err), 0);
  assert_non_null(rt_csv_name(c));
  assert_int_equal(rt_csv_next(c, &rec, &err), 1);
  assert_int_equal(rt_csv_bytes_read(c), 4);
  assert_int_equal(rt_csv_bytes_total(c), 8);
  rt_csv_close(c);
  assert_int_equal(rt_csv_open_mem(NULL, 0, "e", NULL, &c, &err), 0);
  assert_int_equal(rt_csv_next(c, &rec, &err), 0);
  rt_csv_close(c);

  c = (rt_csv *)1;
  assert_int_equal(rt_csv_open_file("/nonexistent/x.csv", NULL, &c, &err), RT_EIO);
  assert_null(c);
  assert_non_null(strstr(err.msg, "/nonexistent/x.csv"));
  assert_int_equal(rt_csv_open_file("/tmp", NULL, &c, &err), RT_EIO);
  assert_null(c);
  assert_non_null(strstr(err.msg, "/tmp"));

  /* standard input is named, and its size is unknown unless it is a file */
  assert_int_equal(rt_csv_open_file("-", NULL, &c, &err), 0);
  assert_string_equal(rt_csv_name(c), "<stdin>");
  rt_csv_close(c);
  rt_csv_close(NULL);
  unlink(path);
  free(path);
}

/* A pipe: reads come in pieces and the size is unknown. */
static void test_pipe(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  const char *text = "x,\"y\nz\"\n1,2";
  assert_int_equal(write(fds[1], text, strlen(text)), (ssize_t)strlen(text));
  close(fds[1]);
  char path[64];
  snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
  rt_csv *c;
  rt_error err = {0};
  assert_int_equal(rt_csv_open_file(path, NULL, &c, &err), 0);
  assert_int_equal(rt_csv_bytes_total(c), 0);
  char *d = dump(c);
  assert_string_equal(d, "1:<x><y\nz>\n3:<1><2>\nEND");
  assert_int_equal(rt_csv_bytes_read(c), strlen(text));
  free(d);
  rt_csv_close(c);
  close(fds[0]);
}

/* Long records and fields: past the 64-byte blocks of the fast path and every chunk size. */
static void test_long_records(void **state) {
  (void)state;
  char in[4096], want[4096];
  size_t n = 0, w = 0;
  w += (size_t)sprintf(want + w, "1:");
  for (int i = 0; i < 40; i++) {
    n += (size_t)sprintf(in + n, "%sfield%02d_%.*s", i ? "," : "", i, i * 3,
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    w += (size_t)sprintf(want + w, "<field%02d_%.*s>", i, i * 3,
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
  }
  n += (size_t)sprintf(in + n, "\r\n\"q\"\"uoted %0200d\",\xC3\xA9%0100d\n", 7, 8);
  w += (size_t)sprintf(want + w, "\n2:<q\"uoted %0200d><\xC3\xA9%0100d>\nEND", 7, 8);
  check_n(in, n, NULL, want);
}

/* A random round trip: records of awkward fields are written as CSV, then read back. */
static uint64_t rng = 88172645463325252ull;
static unsigned rnd(unsigned n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (unsigned)(rng % n);
}

static void test_random_roundtrip(void **state) {
  (void)state;
  static const char *const atoms[] = {"a", "bc", "12345", "x y", ",", "\"", "\n", "\r\n", "\r",
                                      "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\t", ";",
                                      "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"};
  for (int round = 0; round < 6; round++) {
    size_t cap = 1 << 18;
    char *in = malloc(cap), *want = malloc(cap * 2);
    size_t n = 0, w = 0;
    uint64_t line = 1;
    int nrec = 20 + (int)rnd(40);
    for (int r = 0; r < nrec; r++) {
      int nf = 1 + (int)rnd(12);
      w += (size_t)sprintf(want + w, "%llu:", (unsigned long long)line);
      for (int f = 0; f < nf; f++) {
        char field[512];
        size_t fl = 0;
        int na = (int)rnd(round < 3 ? 6 : 14);
        for (int a = 0; a < na; a++) {
          const char *t = atoms[rnd(sizeof atoms / sizeof atoms[0])];
          if (fl + strlen(t) < sizeof field) {
            memcpy(field + fl, t, strlen(t));
            fl += strlen(t);
          }
        }
        int quote = memchr(field, ',', fl) || memchr(field, '"', fl) || memchr(field, '\n', fl) ||
                    memchr(field, '\r', fl) || (nf == 1 && fl == 0) || rnd(4) == 0;
        if (f)
          in[n++] = ',';
        if (quote)
          in[n++] = '"';
        for (size_t i = 0; i < fl; i++) {
          if (field[i] == '"')
            in[n++] = '"';
          if (field[i] == '\n' || (field[i] == '\r' && (i + 1 == fl || field[i + 1] != '\n')))
            line++;
          in[n++] = field[i];
        }
        if (quote)
          in[n++] = '"';
        want[w++] = '<';
        memcpy(want + w, field, fl);
        w += fl;
        want[w++] = '>';
      }
      want[w++] = '\n';
      const char *eol = rnd(3) == 0 ? "\r\n" : "\n";
      if (r + 1 < nrec || rnd(2)) {
        memcpy(in + n, eol, strlen(eol));
        n += strlen(eol);
        line++;
      }
      assert_true(n + 16384 < cap);
    }
    memcpy(want + w, "END", 4);
    check_n(in, n, NULL, want);
    free(in);
    free(want);
  }
}

/* Every allocation may fail: the reader then says so, leaks nothing, and the next try from a
 * fresh reader works. */
/* Writing: RFC 4180 quoting, and text cells that a spreadsheet would run as a formula get a
 * leading single quote (issue 13); numbers are left as they are. The cell reads back through
 * the reader as the guarded text. */
static void test_write_cells(void **state) {
  (void)state;
  static const struct {
    const char *in;
    rt_csv_kind kind;
    const char *out;
  } cases[] = {
      {"plain", RT_CSV_TEXT, "plain"},
      {"a,b", RT_CSV_TEXT, "\"a,b\""},
      {"say \"hi\"", RT_CSV_TEXT, "\"say \"\"hi\"\"\""},
      {"=HYPERLINK(\"x\")", RT_CSV_TEXT, "\"'=HYPERLINK(\"\"x\"\")\""},
      {"-1+2", RT_CSV_TEXT, "'-1+2"},
      {"+1", RT_CSV_TEXT, "'+1"},
      {"@SUM(A1)", RT_CSV_TEXT, "'@SUM(A1)"},
      {"\tx", RT_CSV_TEXT, "'\tx"},
      {"\rx", RT_CSV_TEXT, "\"'\rx\""},
      {"=1,2", RT_CSV_TEXT, "\"'=1,2\""},
      {"a=b", RT_CSV_TEXT, "a=b"},
      {"", RT_CSV_TEXT, ""},
      {"-5.2", RT_CSV_NUMBER, "-5.2"},
      {"+3", RT_CSV_NUMBER, "+3"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[64];
    size_t n = rt_csv_cell(out, cases[i].in, cases[i].kind);
    assert_true(n <= RT_CSV_CELL_ROOM(strlen(cases[i].in)));
    out[n] = '\0';
    assert_string_equal(out, cases[i].out);
    assert_int_equal(rt_csv_formula_risk(cases[i].in),
                     cases[i].in[0] && strchr("=+-@\t\r", cases[i].in[0]));
    if (!n)
      continue;
    rt_csv *c;
    rt_csv_record rec;
    assert_int_equal(rt_csv_open_mem(out, n, "w.csv", NULL, &c, NULL), 0);
    assert_int_equal(rt_csv_next(c, &rec, NULL), 1);
    assert_int_equal(rec.nfields, 1);
    const char *in = cases[i].in;
    int guarded = cases[i].kind == RT_CSV_TEXT && rt_csv_formula_risk(in);
    assert_true(rec.fields[0][0] == (guarded ? '\'' : in[0]));
    assert_string_equal(rec.fields[0] + guarded, in);
    rt_csv_close(c);
  }
}

static void test_alloc_failures(void **state) {
  (void)state;
  const char *text = "a,\"b\"\"c\",d\ne,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y,z\n";
  const char *expected =
      "1:<a><b\"c><d>\n2:<e><f><g><h><i><j><k><l><m><n><o><p><q><r><s><t><u><v><w><x><y><z>"
      "\nEND";
  char *path = write_temp(text, strlen(text));
  for (int file = 0; file < 2; file++) {
    int done = 0;
    for (long n = 0; n < 100 && !done; n++) {
      rt_alloc_fail_after(n);
      rt_csv *c;
      rt_error err = {0};
      int rc = file ? rt_csv_open_file(path, NULL, &c, &err)
                    : rt_csv_open_mem(text, strlen(text), "t.csv", NULL, &c, &err);
      if (rc) {
        assert_int_equal(rc, RT_ENOMEM);
        continue;
      }
      rt_csv_record rec;
      int got, records = 0;
      while ((got = rt_csv_next(c, &rec, &err)) == 1)
        records++;
      if (got == 0) {
        assert_int_equal(records, 2);
        done = 1;
      } else {
        assert_int_equal(got, RT_ENOMEM);
        assert_non_null(strstr(err.msg, "out of memory"));
      }
      rt_csv_close(c);
    }
    rt_alloc_fail_after(-1);
    assert_true(done);
  }
  char *d = dump_file(path, 3, NULL);
  assert_string_equal(d, expected);
  free(d);
  unlink(path);
  free(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic),       cmocka_unit_test(test_quotes),
      cmocka_unit_test(test_line_ends),   cmocka_unit_test(test_blank_lines),
      cmocka_unit_test(test_bom),         cmocka_unit_test(test_delimiters),
      cmocka_unit_test(test_whitespace),  cmocka_unit_test(test_errors),
      cmocka_unit_test(test_latin1),      cmocka_unit_test(test_files),
      cmocka_unit_test(test_pipe),        cmocka_unit_test(test_long_records),
      cmocka_unit_test(test_random_roundtrip), cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test(test_write_cells),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
