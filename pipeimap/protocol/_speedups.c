/* Optional C accelerator for the response lexers (see _accel.py).
 *
 * Two functions, each returning EXACTLY what its pure-Python reference returns:
 *
 * lex_fetch_batch(texts, literals, max_depth)
 *     pipeimap.protocol._fetch_batch.lex_fetch_batch in one pass.  The Python
 *     version rewrites the batch into JSON and lets the C JSON decoder build the
 *     trees; which batches it refuses (None) and at which response it stops (a
 *     prefix) follows from that translation.  The rules below restate those
 *     conditions on the IMAP text directly (each is commented with the Python
 *     step it mirrors); tests/protocol/test_speedups.py and the fuzz target
 *     fuzz/target_speedups.py check the two agree.
 *
 * lex_tokens(parts, max_depth, partial)
 *     The token loop of pipeimap.protocol._lexer.lex (the _TOKEN regular
 *     expression and the explicit-stack tree building).  It returns the tree, or
 *     None for anything the loop would refuse: the caller then runs the Python
 *     lex, which raises the exact error (rule, offset, excerpt).  Errors are
 *     rare, so they need not be fast.
 *
 * Both work on bounded buffers with explicit stacks (no recursion); every
 * allocation failure propagates as MemoryError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* A growable array of PyObject* (borrowed references): the list stack.      */

typedef struct {
    PyObject **items;
    Py_ssize_t len;
    Py_ssize_t cap;
} Stack;

static int
stack_push(Stack *s, PyObject *o)
{
    if (s->len == s->cap) {
        Py_ssize_t cap = s->cap ? s->cap * 2 : 16;
        PyObject **items;
        if (cap > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(PyObject *)) {
            PyErr_NoMemory();
            return -1;
        }
        items = PyMem_Realloc(s->items, (size_t)cap * sizeof(PyObject *));
        if (items == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        s->items = items;
        s->cap = cap;
    }
    s->items[s->len++] = o;
    return 0;
}

/* Append a new reference to list; steals the reference (also on failure). */
static int
append_steal(PyObject *list, PyObject *item)
{
    int r;
    if (item == NULL) {
        return -1;
    }
    r = PyList_Append(list, item);
    Py_DECREF(item);
    return r;
}

/* ------------------------------------------------------------------------- */
/* lex_fetch_batch                                                            */

/* Kinds of the items outside quoted strings (and the batch's start and end). */
enum { K_START, K_SP, K_OPEN, K_CLOSE, K_NL, K_ATOM, K_Q, K_END };

/* Which neighbours the JSON translation accepts (_translate):
 * - "(" must follow a separator or "(" / ")" (the removed '"[' count),
 * - ")" must precede one (the removed ']"' count),
 * - a quoted string must be a token of its own (the '"\x00"' count),
 * - no empty token (a '""' left over): a space next to another separator,
 *   a parenthesis or the start/end of a line. */
static int
pair_ok(int x, int y)
{
    if (y == K_OPEN && (x == K_ATOM || x == K_Q)) {
        return 0;
    }
    if (x == K_CLOSE && (y == K_ATOM || y == K_Q)) {
        return 0;
    }
    if (x == K_Q && (y == K_Q || y == K_ATOM || y == K_OPEN)) {
        return 0;
    }
    if (y == K_Q && x == K_ATOM) {
        return 0;
    }
    if (x == K_SP && (y == K_END || y == K_SP || y == K_CLOSE || y == K_NL)) {
        return 0;
    }
    if (y == K_SP && (x == K_START || x == K_OPEN || x == K_NL)) {
        return 0;
    }
    return 1;
}

/* _BAD_OUTER: bytes that refuse the batch outside quoted strings. */
static unsigned char bad_outer[256];

static void
init_tables(void)
{
    int c;
    for (c = 1; c < 0x20; c++) {
        if (c != 0x0A) {
            bad_outer[c] = 1;
        }
    }
    bad_outer[0x7F] = 1;
    bad_outer['['] = 1;
    bad_outer[']'] = 1;
    bad_outer['{'] = 1;
}

/* One pass of p.replace(b"()", b""), in place; returns the new length. */
static Py_ssize_t
remove_pairs(char *p, Py_ssize_t n)
{
    Py_ssize_t i = 0, o = 0;
    while (i < n) {
        if (p[i] == '(' && i + 1 < n && p[i + 1] == ')') {
            i += 2;
        }
        else {
            p[o++] = p[i++];
        }
    }
    return o;
}

static int
has_double_open(const char *p, Py_ssize_t n)
{
    Py_ssize_t i;
    for (i = 0; i + 1 < n; i++) {
        if (p[i] == '(' && p[i + 1] == '(') {
            return 1;
        }
    }
    return 0;
}

/* _depth_ok for one line of the batch (split at newlines outside quoted
 * strings), whose parentheses outside quoted strings are at buf[start:end].
 * Returns 1 (fine), 0 (the batch is refused) or -1 (MemoryError). */
static int
line_depth_ok(const char *buf, Py_ssize_t start, Py_ssize_t end, Py_ssize_t nparens,
              int balanced, Py_ssize_t maxd, Py_ssize_t max_depth)
{
    char *p;
    Py_ssize_t i, n = 0, k;
    int in_q = 0, ok = 0;

    if ((nparens + 1) / 2 <= max_depth) { /* len(p) <= 2 * max_depth */
        return 1;
    }
    if (balanced && max_depth >= 2) {
        /* Each pass removes exactly one level of a balanced string, and "(("
         * remains while two levels do. */
        return maxd <= max_depth;
    }
    /* Unbalanced: do what the Python does. */
    p = PyMem_Malloc((size_t)nparens + 1);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (i = start; i < end; i++) {
        char c = buf[i];
        if (in_q) {
            if (c == '\\' && i + 1 < end) {
                i++;
            }
            else if (c == '"') {
                in_q = 0;
            }
        }
        else if (c == '"') {
            in_q = 1;
        }
        else if ((c == '(' || c == ')') && n < nparens) {
            p[n++] = c;
        }
    }
    n = remove_pairs(p, n);
    for (k = 1; k < max_depth; k++) { /* max_depth - 1 more passes */
        Py_ssize_t before;
        if (!has_double_open(p, n)) {
            ok = 1;
            break;
        }
        before = n;
        n = remove_pairs(p, n);
        if (n == before) {
            break; /* nothing changes any more: "((" stays */
        }
    }
    PyMem_Free(p);
    return ok;
}

/* Decode a quoted string's contents: the JSON escapes \\ \" \/ (the batch has
 * been checked to hold no other escape where it matters). */
static PyObject *
decode_quoted(const char *s, Py_ssize_t n, int has_bs, char **tmp, Py_ssize_t *tmpcap)
{
    Py_ssize_t i, o = 0;
    if (!has_bs) {
        return PyUnicode_DecodeUTF8(s, n, "surrogateescape");
    }
    if (n > *tmpcap) {
        char *t = PyMem_Realloc(*tmp, (size_t)n);
        if (t == NULL) {
            return PyErr_NoMemory();
        }
        *tmp = t;
        *tmpcap = n;
    }
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            c = s[++i];
        }
        (*tmp)[o++] = c;
    }
    return PyUnicode_DecodeUTF8(*tmp, o, "surrogateescape");
}

static PyObject *
lex_fetch_batch(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *texts_arg, *lits_arg, *texts = NULL, *lits = NULL;
    PyObject *out = NULL, *top = NULL, *result = NULL;
    Py_ssize_t max_depth, ntexts, nlits, total = 0, i, n;
    char *buf = NULL, *tmp = NULL;
    Py_ssize_t tmpcap = 0;
    Stack stack = {NULL, 0, 0};
    int refuse = 0;

    if (!PyArg_ParseTuple(args, "OOn:lex_fetch_batch", &texts_arg, &lits_arg, &max_depth)) {
        return NULL;
    }
    texts = PySequence_Fast(texts_arg, "texts must be a sequence");
    if (texts == NULL) {
        goto error;
    }
    /* a tuple: nothing can change it while the trees are built (a finalizer run
     * by the garbage collector could change a list) */
    lits = PySequence_Tuple(lits_arg);
    if (lits == NULL) {
        goto error;
    }
    ntexts = PySequence_Fast_GET_SIZE(texts);
    nlits = PySequence_Fast_GET_SIZE(lits);
    if (ntexts == 0) {
        goto refused; /* one JSON line for no texts */
    }
    for (i = 0; i < ntexts; i++) {
        PyObject *t = PySequence_Fast_GET_ITEM(texts, i);
        Py_ssize_t len;
        if (!PyBytes_Check(t)) {
            PyErr_SetString(PyExc_TypeError, "texts must be bytes");
            goto error;
        }
        len = PyBytes_GET_SIZE(t);
        /* a newline inside a text: more JSON lines than texts */
        if (memchr(PyBytes_AS_STRING(t), '\n', (size_t)len) != NULL) {
            goto refused;
        }
        if (total > PY_SSIZE_T_MAX - len - 1) {
            PyErr_NoMemory();
            goto error;
        }
        total += len + 1;
    }
    n = total - 1; /* >= 0: at least one text */
    if (n < 0) {
        goto refused;
    }
    buf = PyMem_Malloc((size_t)total);
    if (buf == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    {
        Py_ssize_t pos = 0;
        for (i = 0; i < ntexts; i++) {
            PyObject *t = PySequence_Fast_GET_ITEM(texts, i);
            Py_ssize_t len = PyBytes_GET_SIZE(t);
            if (i) {
                buf[pos++] = '\n';
            }
            memcpy(buf + pos, PyBytes_AS_STRING(t), (size_t)len);
            pos += len;
        }
    }

    /* Whole-batch checks: NUL, the literal marker count, and the stand-ins the
     * Python version uses for escapes (\x01, \x02) already present. */
    {
        Py_ssize_t n03 = 0;
        int esc = 0, has12 = 0;
        if (memchr(buf, 0, (size_t)n) != NULL) {
            goto refused;
        }
        for (i = 0; i < n; i++) {
            unsigned char c = (unsigned char)buf[i];
            if (c < 4) {
                if (c == 3) {
                    n03++;
                }
                else {
                    has12 = 1;
                }
            }
            else if (c == '\\' && i + 1 < n && (buf[i + 1] == '\\' || buf[i + 1] == '"')) {
                esc = 1;
            }
        }
        if (n03 != nlits || (esc && has12)) {
            goto refused;
        }
    }

    out = PyList_New(0);
    if (out == NULL) {
        goto error;
    }

    {
        int prev = K_START;       /* kind of the previous outer item */
        Py_ssize_t line = 0;      /* JSON line (= text) index */
        Py_ssize_t first_fail = ntexts;
        int building = 1;         /* trees are built for the current line */
        /* shape of the current text: one parenthesized list, nothing else */
        Py_ssize_t ldepth = 0;
        int lstarted = 0, lclosed = 0;
        /* the current outer line, for _depth_ok */
        Py_ssize_t ostart = 0, onparens = 0, odepth = 0, omax = 0;
        int obalanced = 1;
        Py_ssize_t js03 = 0;      /* '"\x03"' in the JSON text */
        Py_ssize_t lit_index = 0;
        Py_ssize_t stack_limit = max_depth;

        i = 0;
        while (i <= n) {
            unsigned char c = i < n ? (unsigned char)buf[i] : 0;
            int kind;

            if (i == n || c == '\n') {
                kind = i == n ? K_END : K_NL;
            }
            else if (c == ' ') {
                kind = K_SP;
            }
            else if (c == '(') {
                kind = K_OPEN;
            }
            else if (c == ')') {
                kind = K_CLOSE;
            }
            else if (c == '"') {
                kind = K_Q;
            }
            else {
                kind = K_ATOM;
            }
            if (!pair_ok(prev, kind)) {
                refuse = 1;
                break;
            }
            prev = kind;

            if (kind == K_END || kind == K_NL) {
                /* end of a text (and of an outer line) */
                int r = line_depth_ok(buf, ostart, i, onparens, obalanced && odepth == 0,
                                      omax, max_depth);
                if (r < 0) {
                    goto error;
                }
                if (r == 0) {
                    refuse = 1;
                    break;
                }
                if (line < first_fail) {
                    if (lstarted && lclosed && building) {
                        if (PyList_Append(out, top) < 0) {
                            goto error;
                        }
                    }
                    else {
                        first_fail = line;
                    }
                }
                Py_CLEAR(top);
                stack.len = 0;
                ldepth = 0;
                lstarted = lclosed = 0;
                building = first_fail == ntexts;
                line++;
                ostart = i + 1;
                onparens = odepth = omax = 0;
                obalanced = 1;
                i++;
                continue;
            }
            if (kind == K_SP) {
                i++;
                continue;
            }
            /* an item of the current text: the text must be one list */
            if (lclosed || (!lstarted && kind != K_OPEN)) {
                if (line < first_fail) {
                    first_fail = line;
                }
                building = 0;
            }
            lstarted = 1;
            if (kind == K_OPEN) {
                onparens++;
                odepth++;
                if (odepth > omax) {
                    omax = odepth;
                }
                ldepth++;
                if (building) {
                    PyObject *lst;
                    if (ldepth > stack_limit) {
                        /* deeper than allowed: this line fails (unbalanced) or
                         * the batch is refused (_depth_ok) */
                        if (line < first_fail) {
                            first_fail = line;
                        }
                        building = 0;
                    }
                    else {
                        lst = PyList_New(0);
                        if (lst == NULL) {
                            goto error;
                        }
                        if (stack.len == 0) {
                            top = lst;
                        }
                        else if (append_steal(stack.items[stack.len - 1], lst) < 0) {
                            goto error;
                        }
                        if (stack_push(&stack, lst) < 0) {
                            goto error;
                        }
                    }
                }
                i++;
                continue;
            }
            if (kind == K_CLOSE) {
                onparens++;
                odepth--;
                if (odepth < 0) {
                    obalanced = 0;
                }
                ldepth--;
                if (ldepth == 0) {
                    lclosed = 1;
                }
                else if (ldepth < 0) {
                    if (line < first_fail) {
                        first_fail = line;
                    }
                    building = 0;
                }
                if (building) {
                    stack.len--;
                }
                i++;
                continue;
            }
            if (kind == K_ATOM) {
                Py_ssize_t s = i;
                while (i < n) {
                    c = (unsigned char)buf[i];
                    if (c == ' ' || c == '(' || c == ')' || c == '"' || c == '\n') {
                        break;
                    }
                    if (bad_outer[c]) {
                        refuse = 1;
                        break;
                    }
                    if (c == '\\' && i + 1 < n) {
                        unsigned char d = (unsigned char)buf[i + 1];
                        /* \\ and \" become \x01, \x02 (bad outside quotes);
                         * \b \f \n \r \t \u refuse the batch (_JSON_ONLY_ESCAPE) */
                        if (d == '\\' || d == '"' || d == 'b' || d == 'f' || d == 'n' ||
                            d == 'r' || d == 't' || d == 'u') {
                            refuse = 1;
                            break;
                        }
                    }
                    i++;
                }
                if (refuse) {
                    break;
                }
                if (building) {
                    PyObject *v;
                    Py_ssize_t len = i - s;
                    if (len == 3 && ((buf[s] == 'N' && buf[s + 1] == 'I' && buf[s + 2] == 'L') ||
                                     (buf[s] == 'n' && buf[s + 1] == 'i' && buf[s + 2] == 'l') ||
                                     (buf[s] == 'N' && buf[s + 1] == 'i' && buf[s + 2] == 'l'))) {
                        v = Py_NewRef(Py_None);
                    }
                    else {
                        v = PyUnicode_DecodeUTF8(buf + s, len, "surrogateescape");
                    }
                    if (append_steal(stack.items[stack.len - 1], v) < 0) {
                        goto error;
                    }
                }
                continue;
            }
            /* kind == K_Q: a quoted string */
            {
                Py_ssize_t s = i + 1, j = i + 1, escq_end = -1;
                int has_bs = 0, bad_esc = 0, spans = 0;
                while (j < n) {
                    unsigned char d = (unsigned char)buf[j];
                    if (d == '"') {
                        break;
                    }
                    if (d == '\\') {
                        unsigned char e;
                        has_bs = 1;
                        if (j + 1 >= n) {
                            j++;
                            continue;
                        }
                        e = (unsigned char)buf[j + 1];
                        if (e == '\\') {
                            j += 2;
                            continue;
                        }
                        if (e == '"') {
                            j += 2;
                            escq_end = j;
                            continue;
                        }
                        if (e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't' ||
                            e == 'u') {
                            refuse = 1;
                            break;
                        }
                        if (e != '/') {
                            bad_esc = 1; /* not a JSON escape: the line fails */
                        }
                        j++;
                        continue;
                    }
                    if (d == '\n') {
                        /* the JSON line ends inside the string */
                        spans = 1;
                        if (line < first_fail) {
                            first_fail = line;
                        }
                        line++;
                        building = 0;
                    }
                    j++;
                }
                if (refuse) {
                    break;
                }
                if (j >= n) {
                    refuse = 1; /* an odd number of quotes */
                    break;
                }
                if (spans) {
                    /* a new outer line did not start: the quote hid the newline;
                     * the shape of the new text does not matter any more */
                    lclosed = 1;
                }
                /* '"\x03"' in the JSON: a literal, or (after an escaped quote) a
                 * broken escape once it becomes NaN */
                if (j > s && buf[j - 1] == 3) {
                    if (j - s == 1) {
                        js03++;
                    }
                    else if (escq_end == j - 1) {
                        js03++;
                        bad_esc = 1;
                    }
                }
                if (bad_esc && !spans && line < first_fail) {
                    first_fail = line;
                    building = 0;
                }
                if (building) {
                    PyObject *v;
                    if (j - s == 1 && buf[s] == 3) {
                        if (lit_index >= nlits) {
                            /* cannot happen: the counts were checked */
                            if (line < first_fail) {
                                first_fail = line;
                            }
                            building = 0;
                        }
                        else {
                            v = Py_NewRef(PySequence_Fast_GET_ITEM(lits, lit_index));
                            lit_index++;
                            if (append_steal(stack.items[stack.len - 1], v) < 0) {
                                goto error;
                            }
                        }
                    }
                    else {
                        v = decode_quoted(buf + s, j - s, has_bs, &tmp, &tmpcap);
                        if (append_steal(stack.items[stack.len - 1], v) < 0) {
                            goto error;
                        }
                    }
                }
                else if (j - s == 1 && buf[s] == 3) {
                    lit_index++;
                }
                i = j + 1;
            }
        }
        if (refuse || js03 != nlits) {
            goto refused;
        }
        if (first_fail == 0) {
            goto refused;
        }
        result = out;
        out = NULL;
        goto done;
    }

refused:
    result = Py_NewRef(Py_None);
    goto done;
error:
    result = NULL;
done:
    Py_XDECREF(top);
    Py_XDECREF(out);
    Py_XDECREF(texts);
    Py_XDECREF(lits);
    PyMem_Free(buf);
    PyMem_Free(tmp);
    PyMem_Free(stack.items);
    return result;
}

/* ------------------------------------------------------------------------- */
/* lex_tokens: the token loop of _lexer.lex                                  */

/* An atom character of _TOKEN: not [\x00-\x20()"{\[\x7f]. */
static inline int
atom_char(Py_UCS4 c)
{
    return c > 0x20 && c != '(' && c != ')' && c != '"' && c != '{' && c != '[' && c != 0x7F;
}

/* Tokenize one text segment into the stack's lists.  Returns 1 on success, 0
 * when the Python loop would refuse it, -1 on an exception. */
static int
lex_segment(PyObject *seg, Stack *stack, PyObject *root, Py_ssize_t max_depth)
{
    int kind = PyUnicode_KIND(seg);
    const void *data = PyUnicode_DATA(seg);
    Py_ssize_t n = PyUnicode_GET_LENGTH(seg), i = 0;

    while (i < n) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        PyObject *cur = stack->len ? stack->items[stack->len - 1] : root;
        if (c == ' ') {
            i++;
        }
        else if (c == '"') {
            Py_ssize_t j = i + 1;
            int has_bs = 0;
            PyObject *v;
            while (j < n) {
                Py_UCS4 d = PyUnicode_READ(kind, data, j);
                if (d == '"') {
                    break;
                }
                if (d == '\\') {
                    has_bs = 1;
                    if (j + 1 >= n) {
                        j = n; /* "\\." needs a character: unterminated */
                        break;
                    }
                    j += 2;
                }
                else {
                    j++;
                }
            }
            if (j >= n) {
                return 0; /* unterminated quoted string */
            }
            if (!has_bs) {
                v = PyUnicode_Substring(seg, i + 1, j);
            }
            else {
                /* _UNESCAPE: "\\(.)" -> "\1" */
                Py_ssize_t k, o = 0;
                Py_UCS4 *tmp = PyMem_Malloc((size_t)(j - i) * sizeof(Py_UCS4));
                if (tmp == NULL) {
                    PyErr_NoMemory();
                    return -1;
                }
                for (k = i + 1; k < j; k++) {
                    Py_UCS4 d = PyUnicode_READ(kind, data, k);
                    if (d == '\\' && k + 1 < j) {
                        d = PyUnicode_READ(kind, data, ++k);
                    }
                    tmp[o++] = d;
                }
                v = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, tmp, o);
                PyMem_Free(tmp);
            }
            if (append_steal(cur, v) < 0) {
                return -1;
            }
            i = j + 1;
        }
        else if (c == '(') {
            PyObject *lst = PyList_New(0);
            if (append_steal(cur, lst) < 0) {
                return -1;
            }
            if (stack_push(stack, lst) < 0) {
                return -1;
            }
            if (stack->len > max_depth) {
                return 0;
            }
            i++;
        }
        else if (c == ')') {
            if (stack->len == 0) {
                return 0;
            }
            stack->len--;
            i++;
        }
        else if (atom_char(c)) {
            Py_ssize_t s = i;
            PyObject *v;
            while (i < n && atom_char(PyUnicode_READ(kind, data, i))) {
                i++;
            }
            if (i < n && PyUnicode_READ(kind, data, i) == '[') {
                /* a section: "[" anything but "]" "]", then more atom chars */
                Py_ssize_t k = i + 1;
                while (k < n && PyUnicode_READ(kind, data, k) != ']') {
                    k++;
                }
                if (k < n) {
                    i = k + 1;
                    while (i < n && atom_char(PyUnicode_READ(kind, data, i))) {
                        i++;
                    }
                }
            }
            if (i - s == 3) {
                Py_UCS4 a = PyUnicode_READ(kind, data, s);
                Py_UCS4 b = PyUnicode_READ(kind, data, s + 1);
                Py_UCS4 d = PyUnicode_READ(kind, data, s + 2);
                if ((a == 'N' && b == 'I' && d == 'L') || (a == 'n' && b == 'i' && d == 'l') ||
                    (a == 'N' && b == 'i' && d == 'l')) {
                    if (PyList_Append(cur, Py_None) < 0) {
                        return -1;
                    }
                    continue;
                }
            }
            v = PyUnicode_Substring(seg, s, i);
            if (append_steal(cur, v) < 0) {
                return -1;
            }
        }
        else {
            return 0; /* junk: control character, DEL, "{", "[" */
        }
    }
    return 1;
}

static PyObject *
lex_tokens(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *parts_arg, *parts = NULL, *root = NULL, *result = NULL;
    Py_ssize_t max_depth, nparts, index;
    int partial;
    Stack stack = {NULL, 0, 0};

    if (!PyArg_ParseTuple(args, "Onp:lex_tokens", &parts_arg, &max_depth, &partial)) {
        return NULL;
    }
    parts = PySequence_Tuple(parts_arg); /* immutable while we work (see above) */
    if (parts == NULL) {
        return NULL;
    }
    nparts = PySequence_Fast_GET_SIZE(parts);
    root = PyList_New(0);
    if (root == NULL) {
        goto error;
    }
    for (index = 0; index < nparts; index += 2) {
        PyObject *seg = PySequence_Fast_GET_ITEM(parts, index);
        int r;
        if (!PyUnicode_Check(seg)) {
            goto fallback; /* the Python lex raises TypeError */
        }
        r = lex_segment(seg, &stack, root, max_depth);
        if (r < 0) {
            goto error;
        }
        if (r == 0) {
            goto fallback;
        }
        if (index + 1 < nparts) {
            PyObject *cur = stack.len ? stack.items[stack.len - 1] : root;
            if (PyList_Append(cur, PySequence_Fast_GET_ITEM(parts, index + 1)) < 0) {
                goto error;
            }
        }
    }
    if (nparts == 0 || (nparts - 1) % 2 != 0) {
        goto fallback; /* not text, literal, ..., text */
    }
    if (stack.len && !partial) {
        goto fallback; /* unclosed '(' */
    }
    result = root;
    root = NULL;
    goto done;
fallback:
    result = Py_NewRef(Py_None);
    goto done;
error:
    result = NULL;
done:
    Py_XDECREF(root);
    Py_XDECREF(parts);
    PyMem_Free(stack.items);
    return result;
}

/* ------------------------------------------------------------------------- */

static PyMethodDef speedups_methods[] = {
    {"lex_fetch_batch", lex_fetch_batch, METH_VARARGS,
     "lex_fetch_batch(texts, literals, max_depth) -> list | None\n\n"
     "Same as pipeimap.protocol._fetch_batch.lex_fetch_batch."},
    {"lex_tokens", lex_tokens, METH_VARARGS,
     "lex_tokens(parts, max_depth, partial) -> list | None\n\n"
     "The token loop of pipeimap.protocol._lexer.lex; None where it would raise."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "pipeimap.protocol._speedups",
    "C accelerator for the response lexers (see _accel.py).",
    -1,
    speedups_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    init_tables();
    return PyModule_Create(&speedups_module);
}
