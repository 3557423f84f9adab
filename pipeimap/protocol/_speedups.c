/* Optional C accelerator for the response lexers (see _accel.py).
 *
 * Three functions, each returning EXACTLY what its pure-Python reference returns:
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
 * fetch_items(tree)
 *     The typed conversion of one FETCH line's tree (_parse_fetch.convert_msg_att
 *     with _bodystructure's ENVELOPE and BODYSTRUCTURE builders) for the shapes
 *     servers normally send; None for anything else, and the Python conversion
 *     runs (see the section below).
 *
 * The lexers work on bounded buffers with explicit stacks (no recursion); the
 * conversion recurses along the tree, whose depth the lexers bound.  Every
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
/* fetch_items: the typed conversion of one FETCH line's generic tree         */
/*                                                                            */
/* pipeimap.protocol._parse_fetch.convert_msg_att (with _bodystructure's      */
/* parse_envelope and parse_body) for the shapes servers normally send; its   */
/* result is the dict that FetchItems wraps.  Anything else -- a value the    */
/* Python converts leniently (a literal where a string belongs, a short body  */
/* part), an item name that needs normalizing, and every error -- returns     */
/* None, and the caller runs the Python conversion, which is the reference    */
/* (it converts or raises the exact error).  Internally a builder returns     */
/* NULL with no exception set for "not here: fall back" (FB); NULL with an    */
/* exception set is a real error (MemoryError) and propagates.                */
/*                                                                            */
/* The types (UID, Address, Envelope, ...), the item tables and the flag      */
/* cache come from configure_items(), called once by _accel.py.               */

static PyTypeObject *T_UID, *T_Address, *T_Envelope, *T_Disposition, *T_BodyPart, *T_Multipart;
static PyObject *item_kinds;   /* dict: item name as sent -> kind (int) */
static PyObject *handlers;     /* dict: name -> (key, converter): _parse_fetch._HANDLERS */
static PyObject *sections;     /* dict: name -> (key, converter): _parse_fetch._SECTIONS */
static PyObject *flag_cache;   /* dict: tuple(list) -> flags tuple: _parse_fetch._FLAG_TUPLES */
static PyObject *flags_func;   /* _parse_fetch._flags */
static PyObject *empty_tuple, *s_mixed, *s_empty;
static PyObject *k_uid, *k_flags, *k_size, *k_envelope, *k_bodystructure, *k_body;
static int items_configured;

enum { I_UID = 1, I_FLAGS, I_SIZE, I_ENVELOPE, I_BODYSTRUCTURE, I_BODY };

#define FB NULL /* "fall back" (no exception set) */
/* Nesting of BODYSTRUCTURE is bounded by the lexer's max_depth already; this is
 * a second guard so the recursion below can never run deep. */
#define MAX_BODY_DEPTH 256

/* A tuple subclass instance (a NamedTuple) of n items, items unset. */
static PyObject *
new_struct(PyTypeObject *type, Py_ssize_t n)
{
    return type->tp_alloc(type, n);
}

/* _lexer.text of a literal: UTF-8, undecodable bytes as surrogate escapes. */
static PyObject *
literal_text(PyObject *v)
{
    return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v), "surrogateescape");
}

/* _nstring: None/str -> itself, a literal -> its text, anything else -> FB
 * (the Python raises). */
static PyObject *
nstring(PyObject *v)
{
    if (v == Py_None || PyUnicode_CheckExact(v)) {
        return Py_NewRef(v);
    }
    if (PyBytes_CheckExact(v)) {
        return literal_text(v);
    }
    return FB;
}

/* _nstring_lenient: None/str -> itself, a literal -> its text, anything else
 * (a list, a streamed-literal marker) -> None. */
static PyObject *
lenient(PyObject *v)
{
    if (v == Py_None || PyUnicode_CheckExact(v)) {
        return Py_NewRef(v);
    }
    if (PyBytes_CheckExact(v)) {
        return literal_text(v);
    }
    return Py_NewRef(Py_None);
}

/* The digits of an ASCII str, or -1: 1..20 ASCII digits (isdigit, isascii,
 * len <= 20). */
static Py_ssize_t
ascii_digits(PyObject *v)
{
    Py_ssize_t n, i;
    const Py_UCS1 *p;
    if (!PyUnicode_CheckExact(v) || !PyUnicode_IS_ASCII(v)) {
        return -1;
    }
    n = PyUnicode_GET_LENGTH(v);
    if (n < 1 || n > 20) {
        return -1;
    }
    p = PyUnicode_1BYTE_DATA(v);
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
    }
    return n;
}

/* _num: digits -> int, anything else -> None. */
static PyObject *
num_or_none(PyObject *v)
{
    if (ascii_digits(v) < 0) {
        return Py_NewRef(Py_None);
    }
    return PyLong_FromString((const char *)PyUnicode_1BYTE_DATA(v), NULL, 10);
}

/* Case-insensitive comparison of an ASCII str with an uppercase C string.
 * -1: not ASCII (the caller falls back: str.upper is Unicode-aware). */
static int
ascii_upper_eq(PyObject *s, const char *upper)
{
    Py_ssize_t n, i;
    const Py_UCS1 *p;
    if (!PyUnicode_IS_ASCII(s)) {
        return -1;
    }
    n = PyUnicode_GET_LENGTH(s);
    p = PyUnicode_1BYTE_DATA(s);
    for (i = 0; i < n; i++) {
        int c = p[i];
        if (upper[i] == '\0') {
            return 0;
        }
        if (c >= 'a' && c <= 'z') {
            c -= 32;
        }
        if (c != upper[i]) {
            return 0;
        }
    }
    return upper[n] == '\0';
}

/* _addresses */
static PyObject *
addresses(PyObject *v)
{
    Py_ssize_t n, i, j;
    PyObject *out;
    if (!PyList_CheckExact(v)) {
        if (v == Py_None || (PyUnicode_CheckExact(v) && PyUnicode_GET_LENGTH(v) == 0)) {
            return Py_NewRef(empty_tuple);
        }
        return FB;
    }
    n = PyList_GET_SIZE(v);
    out = PyTuple_New(n);
    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        PyObject *a = PyList_GET_ITEM(v, i), *addr;
        if (!PyList_CheckExact(a) || PyList_GET_SIZE(a) != 4) {
            goto fail; /* the Python raises */
        }
        addr = new_struct(T_Address, 4);
        if (addr == NULL) {
            goto fail;
        }
        PyTuple_SET_ITEM(out, i, addr);
        for (j = 0; j < 4; j++) {
            PyObject *x = nstring(PyList_GET_ITEM(a, j));
            if (x == NULL) {
                goto fail;
            }
            PyTuple_SET_ITEM(addr, j, x);
        }
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* parse_envelope */
static PyObject *
envelope(PyObject *v)
{
    PyObject *env, *from, *x;
    static const int strs[] = {0, 1, 8, 9};
    int i, r;
    if (!PyList_CheckExact(v) || PyList_GET_SIZE(v) != 10) {
        return FB;
    }
    env = new_struct(T_Envelope, 10);
    if (env == NULL) {
        return NULL;
    }
    for (i = 0; i < 4; i++) {
        x = nstring(PyList_GET_ITEM(v, strs[i]));
        if (x == NULL) {
            goto fail;
        }
        PyTuple_SET_ITEM(env, strs[i], x);
    }
    from = addresses(PyList_GET_ITEM(v, 2));
    if (from == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(env, 2, from);
    /* Sender and Reply-To usually repeat From: equal lists share the tuple. */
    for (i = 3; i <= 4; i++) {
        r = PyObject_RichCompareBool(PyList_GET_ITEM(v, i), PyList_GET_ITEM(v, 2), Py_EQ);
        if (r < 0) {
            goto fail;
        }
        x = r ? Py_NewRef(from) : addresses(PyList_GET_ITEM(v, i));
        if (x == NULL) {
            goto fail;
        }
        PyTuple_SET_ITEM(env, i, x);
    }
    for (i = 5; i <= 7; i++) {
        x = addresses(PyList_GET_ITEM(v, i));
        if (x == NULL) {
            goto fail;
        }
        PyTuple_SET_ITEM(env, i, x);
    }
    return env;
fail:
    Py_DECREF(env);
    return NULL;
}

/* _params: not a list -> (); a list -> (name, value) pairs (an odd last
 * name is dropped), NIL as "" and literals as text; a list inside, or any
 * other value -> FB (the Python raises). */
static PyObject *
params(PyObject *v)
{
    Py_ssize_t n, i;
    PyObject *out;
    if (!PyList_CheckExact(v)) {
        return Py_NewRef(empty_tuple);
    }
    n = PyList_GET_SIZE(v);
    out = PyTuple_New(n / 2);
    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i + 1 < n; i += 2) {
        PyObject *pair = PyTuple_New(2);
        int j;
        if (pair == NULL) {
            goto fail;
        }
        PyTuple_SET_ITEM(out, i / 2, pair);
        for (j = 0; j < 2; j++) {
            PyObject *x = nstring(PyList_GET_ITEM(v, i + j));
            if (x == NULL) {
                goto fail;
            }
            if (x == Py_None) { /* `_nstring(k) or ""` */
                Py_SETREF(x, Py_NewRef(s_empty));
            }
            PyTuple_SET_ITEM(pair, j, x);
        }
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* _disposition (v is not None) */
static PyObject *
disposition(PyObject *v)
{
    PyObject *d, *t, *p;
    if (!PyList_CheckExact(v) || PyList_GET_SIZE(v) == 0) {
        return Py_NewRef(Py_None);
    }
    t = lenient(PyList_GET_ITEM(v, 0));
    if (t == NULL) {
        return NULL;
    }
    if (t == Py_None || PyUnicode_GET_LENGTH(t) == 0) { /* `or ""` */
        Py_SETREF(t, Py_NewRef(s_empty));
    }
    p = PyList_GET_SIZE(v) > 1 ? params(PyList_GET_ITEM(v, 1)) : Py_NewRef(empty_tuple);
    if (p == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    d = new_struct(T_Disposition, 2);
    if (d == NULL) {
        Py_DECREF(t);
        Py_DECREF(p);
        return NULL;
    }
    PyTuple_SET_ITEM(d, 0, t);
    PyTuple_SET_ITEM(d, 1, p);
    return d;
}

/* _language (v is not None) */
static PyObject *
language(PyObject *v)
{
    PyObject *out, *s;
    Py_ssize_t n, i;
    if (!PyList_CheckExact(v)) {
        s = lenient(v);
        if (s == NULL || s == Py_None) {
            return s;
        }
        out = PyTuple_Pack(1, s);
        Py_DECREF(s);
        return out;
    }
    n = PyList_GET_SIZE(v);
    out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        s = lenient(PyList_GET_ITEM(v, i));
        if (s == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        if (s != Py_None && PyUnicode_GET_LENGTH(s) > 0) { /* `if s` */
            if (PyList_Append(out, s) < 0) {
                Py_DECREF(s);
                Py_DECREF(out);
                return NULL;
            }
        }
        Py_DECREF(s);
    }
    Py_SETREF(out, PyList_AsTuple(out));
    return out;
}

/* generic: lists become tuples, recursively (depth bounded by the lexer). */
static PyObject *
generic(PyObject *v, int depth)
{
    Py_ssize_t n, i;
    PyObject *out;
    if (!PyList_CheckExact(v)) {
        return Py_NewRef(v);
    }
    if (depth > MAX_BODY_DEPTH) {
        return FB;
    }
    n = PyList_GET_SIZE(v);
    out = PyTuple_New(n);
    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        PyObject *x = generic(PyList_GET_ITEM(v, i), depth + 1);
        if (x == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, x);
    }
    return out;
}

/* tuple(generic(x) for x in v[start:]) */
static PyObject *
generic_tail(PyObject *v, Py_ssize_t start, int depth)
{
    Py_ssize_t n = PyList_GET_SIZE(v), i;
    PyObject *out;
    if (start >= n) {
        return Py_NewRef(empty_tuple);
    }
    out = PyTuple_New(n - start);
    if (out == NULL) {
        return NULL;
    }
    for (i = start; i < n; i++) {
        PyObject *x = generic(PyList_GET_ITEM(v, i), depth + 1);
        if (x == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i - start, x);
    }
    return out;
}

/* The extension fields from v[j] on, into out[first..first+4]: location of
 * the first field (params or md5), disposition, language, location, rest.
 * For a multipart the first is body-fld-param, for a part body-fld-md5. */
static int
set_ext_tail(PyObject *out, Py_ssize_t first, PyObject *v, Py_ssize_t j, int depth)
{
    Py_ssize_t k = PyList_GET_SIZE(v) - j;
    PyObject *x;
    /* disposition, language, location */
    if (k < 2 || PyList_GET_ITEM(v, j + 1) == Py_None) {
        x = Py_NewRef(Py_None);
    }
    else {
        x = disposition(PyList_GET_ITEM(v, j + 1));
    }
    if (x == NULL) {
        return -1;
    }
    PyTuple_SET_ITEM(out, first + 1, x);
    if (k < 3 || PyList_GET_ITEM(v, j + 2) == Py_None) {
        x = Py_NewRef(Py_None);
    }
    else {
        x = language(PyList_GET_ITEM(v, j + 2));
    }
    if (x == NULL) {
        return -1;
    }
    PyTuple_SET_ITEM(out, first + 2, x);
    x = k < 4 ? Py_NewRef(Py_None) : lenient(PyList_GET_ITEM(v, j + 3));
    if (x == NULL) {
        return -1;
    }
    PyTuple_SET_ITEM(out, first + 3, x);
    x = k > 4 ? generic_tail(v, j + 4, depth) : Py_NewRef(empty_tuple);
    if (x == NULL) {
        return -1;
    }
    PyTuple_SET_ITEM(out, first + 4, x);
    return 0;
}

static PyObject *body(PyObject *v, int depth);

/* _mpart */
static PyObject *
multipart(PyObject *v, int depth)
{
    Py_ssize_t n = PyList_GET_SIZE(v), i = 0, j, k;
    PyObject *parts = NULL, *out = NULL, *sub, *x;
    parts = PyList_New(0);
    if (parts == NULL) {
        return NULL;
    }
    while (i < n) {
        PyObject *p = PyList_GET_ITEM(v, i);
        if (!PyList_CheckExact(p)) {
            break;
        }
        x = body(p, depth + 1);
        if (x == NULL) {
            goto fail;
        }
        if (PyList_Append(parts, x) < 0) {
            Py_DECREF(x);
            goto fail;
        }
        Py_DECREF(x);
        i++;
    }
    out = new_struct(T_Multipart, 7);
    if (out == NULL) {
        goto fail;
    }
    x = PyList_AsTuple(parts);
    Py_CLEAR(parts);
    if (x == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(out, 0, x);
    sub = i < n ? lenient(PyList_GET_ITEM(v, i)) : Py_NewRef(Py_None);
    if (sub == NULL) {
        goto fail;
    }
    if (sub == Py_None || PyUnicode_GET_LENGTH(sub) == 0) { /* tolerated: no subtype */
        Py_SETREF(sub, Py_NewRef(s_mixed));
    }
    PyTuple_SET_ITEM(out, 1, sub);
    j = i + 1;
    k = n - j;
    x = k > 0 ? params(PyList_GET_ITEM(v, j)) : Py_NewRef(empty_tuple);
    if (x == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(out, 2, x);
    if (set_ext_tail(out, 2, v, j, depth) < 0) {
        goto fail;
    }
    return out;
fail:
    Py_XDECREF(parts);
    Py_XDECREF(out);
    return NULL;
}

/* _nstring_lenient(v) or "" */
static PyObject *
lenient_or_empty(PyObject *v)
{
    PyObject *x = lenient(v);
    if (x == Py_None) {
        Py_SETREF(x, Py_NewRef(s_empty));
    }
    return x;
}

/* _1part */
static PyObject *
one_part(PyObject *v, int depth)
{
    Py_ssize_t n = PyList_GET_SIZE(v), i = 7, f;
    PyObject *out, *mtype, *subtype, *x, *lines = NULL, *env = NULL, *sub = NULL;
    PyObject *names[2];
    int kind, r;
    if (n < 7) {
        return FB; /* tolerated by the Python (short parts): rare */
    }
    mtype = names[0] = PyList_GET_ITEM(v, 0);
    subtype = names[1] = PyList_GET_ITEM(v, 1);
    if (!PyUnicode_CheckExact(mtype) || !PyUnicode_CheckExact(subtype)) {
        /* tolerated: NIL or a literal for the type or subtype (rare) */
        PyObject *nv = PyList_GetSlice(v, 0, n);
        int k;
        if (nv == NULL) {
            return NULL;
        }
        for (k = 0; k < 2; k++) {
            PyObject *t = lenient_or_empty(names[k]);
            if (t == NULL) {
                Py_DECREF(nv);
                return NULL;
            }
            if (PyList_SetItem(nv, k, t) < 0) { /* steals t, releases the old item */
                Py_DECREF(nv);
                return NULL;
            }
        }
        out = one_part(nv, depth);
        Py_DECREF(nv);
        return out;
    }
    r = ascii_upper_eq(mtype, "TEXT");
    if (r < 0) {
        return FB;
    }
    kind = r ? 1 : 0;
    if (!kind) {
        r = ascii_upper_eq(mtype, "MESSAGE");
        if (r < 0) {
            return FB;
        }
        kind = r ? 2 : 0;
    }
    if (kind == 1) {
        if (n > 7 && !PyList_CheckExact(PyList_GET_ITEM(v, 7))) {
            lines = num_or_none(PyList_GET_ITEM(v, 7));
            if (lines == NULL) {
                return NULL;
            }
            i = 8;
        }
    }
    else if (kind == 2) {
        int rfc822 = ascii_upper_eq(subtype, "RFC822");
        int global = rfc822 == 1 ? 0 : ascii_upper_eq(subtype, "GLOBAL");
        if (rfc822 < 0 || global < 0) {
            return FB;
        }
        if ((rfc822 || global) && n >= 10 && PyList_CheckExact(PyList_GET_ITEM(v, 7)) &&
            PyList_CheckExact(PyList_GET_ITEM(v, 8))) {
            PyObject *ev = PyList_GET_ITEM(v, 7), *bv = PyList_GET_ITEM(v, 8);
            if (PyList_GET_SIZE(ev) == 10) {
                env = envelope(ev);
                if (env == NULL) {
                    return NULL;
                }
            }
            /* parse_body: a non-empty list */
            if (PyList_GET_SIZE(bv) == 0) {
                Py_XDECREF(env);
                return FB;
            }
            sub = body(bv, depth + 1);
            if (sub == NULL) {
                Py_XDECREF(env);
                return NULL;
            }
            lines = num_or_none(PyList_GET_ITEM(v, 9));
            if (lines == NULL) {
                Py_XDECREF(env);
                Py_DECREF(sub);
                return NULL;
            }
            i = 10;
        }
    }
    out = new_struct(T_BodyPart, 15);
    if (out == NULL) {
        Py_XDECREF(lines);
        Py_XDECREF(env);
        Py_XDECREF(sub);
        return NULL;
    }
    PyTuple_SET_ITEM(out, 0, Py_NewRef(mtype));
    PyTuple_SET_ITEM(out, 1, Py_NewRef(subtype));
    PyTuple_SET_ITEM(out, 7, lines ? lines : Py_NewRef(Py_None));
    PyTuple_SET_ITEM(out, 8, env ? env : Py_NewRef(Py_None));
    PyTuple_SET_ITEM(out, 9, sub ? sub : Py_NewRef(Py_None));
    x = params(PyList_GET_ITEM(v, 2));
    if (x == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(out, 2, x);
    for (f = 3; f <= 5; f++) { /* id, description, encoding */
        x = lenient(PyList_GET_ITEM(v, f));
        if (x == NULL) {
            goto fail;
        }
        PyTuple_SET_ITEM(out, f, x);
    }
    x = num_or_none(PyList_GET_ITEM(v, 6));
    if (x == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(out, 6, x);
    /* md5, then disposition, language, location, extensions */
    x = n - i > 0 ? lenient(PyList_GET_ITEM(v, i)) : Py_NewRef(Py_None);
    if (x == NULL) {
        goto fail;
    }
    PyTuple_SET_ITEM(out, 10, x);
    if (set_ext_tail(out, 10, v, i, depth) < 0) {
        goto fail;
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* parse_body */
static PyObject *
body(PyObject *v, int depth)
{
    if (!PyList_CheckExact(v) || PyList_GET_SIZE(v) == 0 || depth > MAX_BODY_DEPTH) {
        return FB;
    }
    if (PyList_CheckExact(PyList_GET_ITEM(v, 0))) {
        return multipart(v, depth);
    }
    return one_part(v, depth);
}

/* _uid: 1..0xFFFFFFFF as a UID (an int subclass). */
static PyObject *
uid_value(PyObject *v)
{
    Py_ssize_t n = ascii_digits(v), i;
    unsigned long long x = 0;
    const Py_UCS1 *p;
    PyObject *num, *args, *out;
    if (n < 0) {
        return FB;
    }
    p = PyUnicode_1BYTE_DATA(v);
    for (i = 0; i < n; i++) {
        x = x * 10 + (unsigned long long)(p[i] - '0');
        if (x > 0xFFFFFFFFULL) {
            return FB;
        }
    }
    if (x == 0) {
        return FB;
    }
    num = PyLong_FromUnsignedLongLong(x);
    if (num == NULL) {
        return NULL;
    }
    args = PyTuple_Pack(1, num);
    Py_DECREF(num);
    if (args == NULL) {
        return NULL;
    }
    out = PyLong_Type.tp_new(T_UID, args, NULL); /* int.__new__(UID, n) */
    Py_DECREF(args);
    return out;
}

/* _flags, through its cache (a miss or an odd list: the Python function). */
static PyObject *
flags_value(PyObject *v)
{
    PyObject *key, *hit;
    Py_ssize_t n, i;
    if (!PyList_CheckExact(v)) {
        return FB;
    }
    n = PyList_GET_SIZE(v);
    for (i = 0; i < n; i++) {
        if (!PyUnicode_CheckExact(PyList_GET_ITEM(v, i))) {
            return FB;
        }
    }
    key = PyList_AsTuple(v);
    if (key == NULL) {
        return NULL;
    }
    hit = PyDict_GetItemWithError(flag_cache, key);
    Py_DECREF(key);
    if (hit != NULL) {
        return Py_NewRef(hit);
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    hit = PyObject_CallOneArg(flags_func, v);
    if (hit == NULL && PyErr_ExceptionMatches(PyExc_ValueError)) {
        PyErr_Clear(); /* a bad flag: the Python conversion reports it */
        return FB;
    }
    return hit;
}

/* One (key, converter) entry of a handler table, applied; FB on ValueError. */
static int
apply_handler(PyObject *out, PyObject *entry, PyObject *value)
{
    PyObject *key, *conv, *x;
    int r;
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2) {
        return 0;
    }
    key = PyTuple_GET_ITEM(entry, 0);
    conv = PyTuple_GET_ITEM(entry, 1);
    x = PyObject_CallOneArg(conv, value);
    if (x == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    r = PyDict_SetItem(out, key, x);
    Py_DECREF(x);
    return r < 0 ? -1 : 1;
}

static PyObject *
fetch_items(PyObject *Py_UNUSED(module), PyObject *tree)
{
    Py_ssize_t n, i;
    PyObject *out;
    if (!items_configured) {
        PyErr_SetString(PyExc_RuntimeError, "configure_items() has not been called");
        return NULL;
    }
    if (!PyList_CheckExact(tree) || (PyList_GET_SIZE(tree) & 1)) {
        Py_RETURN_NONE;
    }
    n = PyList_GET_SIZE(tree);
    out = PyDict_New();
    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i += 2) {
        PyObject *name = PyList_GET_ITEM(tree, i), *value = PyList_GET_ITEM(tree, i + 1);
        PyObject *kindobj, *key = NULL, *x = NULL, *entry;
        long kind;
        int r;
        if (!PyUnicode_CheckExact(name)) {
            goto fallback;
        }
        kindobj = PyDict_GetItemWithError(item_kinds, name);
        if (kindobj == NULL) {
            if (PyErr_Occurred()) {
                goto error;
            }
            /* INTERNALDATE, MODSEQ, ...; a body section seen before */
            entry = PyDict_GetItemWithError(handlers, name);
            if (entry == NULL && !PyErr_Occurred()) {
                entry = PyDict_GetItemWithError(sections, name);
            }
            if (entry == NULL) {
                if (PyErr_Occurred()) {
                    goto error;
                }
                goto fallback; /* a name to normalize: the Python does that */
            }
            r = apply_handler(out, entry, value);
            if (r < 0) {
                goto error;
            }
            if (r == 0) {
                goto fallback;
            }
            continue;
        }
        kind = PyLong_AsLong(kindobj);
        switch (kind) {
        case I_UID:
            key = k_uid;
            x = uid_value(value);
            break;
        case I_FLAGS:
            key = k_flags;
            x = flags_value(value);
            break;
        case I_SIZE:
            key = k_size;
            x = ascii_digits(value) < 0
                    ? FB
                    : PyLong_FromString((const char *)PyUnicode_1BYTE_DATA(value), NULL, 10);
            break;
        case I_ENVELOPE:
            key = k_envelope;
            x = envelope(value);
            break;
        case I_BODYSTRUCTURE:
        case I_BODY:
            key = kind == I_BODY ? k_body : k_bodystructure;
            x = body(value, 0);
            break;
        default:
            goto fallback;
        }
        if (x == NULL) {
            if (PyErr_Occurred()) {
                goto error;
            }
            goto fallback;
        }
        r = PyDict_SetItem(out, key, x);
        Py_DECREF(x);
        if (r < 0) {
            goto error;
        }
    }
    return out;
fallback:
    Py_DECREF(out);
    Py_RETURN_NONE;
error:
    Py_DECREF(out);
    return NULL;
}

/* A NamedTuple class: a tuple subclass adding no fields to the C layout. */
static int
check_struct(PyObject *t, const char *what)
{
    if (!PyType_Check(t) || !PyType_IsSubtype((PyTypeObject *)t, &PyTuple_Type) ||
        ((PyTypeObject *)t)->tp_basicsize != PyTuple_Type.tp_basicsize ||
        ((PyTypeObject *)t)->tp_itemsize != PyTuple_Type.tp_itemsize ||
        ((PyTypeObject *)t)->tp_dictoffset != 0) {
        PyErr_Format(PyExc_TypeError, "%s must be a NamedTuple class", what);
        return -1;
    }
    return 0;
}

static PyObject *
configure_items(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *uid, *address, *env, *disp, *part, *multi, *kinds, *hand, *sect, *cache, *ffunc;
    if (!PyArg_ParseTuple(args, "OOOOOOO!O!O!O!O:configure_items", &uid, &address, &env, &disp,
                          &part, &multi, &PyDict_Type, &kinds, &PyDict_Type, &hand,
                          &PyDict_Type, &sect, &PyDict_Type, &cache, &ffunc)) {
        return NULL;
    }
    if (!PyType_Check(uid) || !PyType_IsSubtype((PyTypeObject *)uid, &PyLong_Type)) {
        PyErr_SetString(PyExc_TypeError, "UID must be an int subclass");
        return NULL;
    }
    if (check_struct(address, "Address") < 0 || check_struct(env, "Envelope") < 0 ||
        check_struct(disp, "Disposition") < 0 || check_struct(part, "BodyPart") < 0 ||
        check_struct(multi, "MultipartBody") < 0) {
        return NULL;
    }
    if (empty_tuple == NULL) {
        empty_tuple = PyTuple_New(0);
        s_mixed = PyUnicode_InternFromString("MIXED");
        s_empty = PyUnicode_InternFromString("");
        k_uid = PyUnicode_InternFromString("UID");
        k_flags = PyUnicode_InternFromString("FLAGS");
        k_size = PyUnicode_InternFromString("RFC822.SIZE");
        k_envelope = PyUnicode_InternFromString("ENVELOPE");
        k_bodystructure = PyUnicode_InternFromString("BODYSTRUCTURE");
        k_body = PyUnicode_InternFromString("BODY");
        if (empty_tuple == NULL || s_mixed == NULL || s_empty == NULL || k_uid == NULL ||
            k_flags == NULL || k_size == NULL || k_envelope == NULL ||
            k_bodystructure == NULL || k_body == NULL) {
            return NULL;
        }
    }
    Py_XSETREF(T_UID, (PyTypeObject *)Py_NewRef(uid));
    Py_XSETREF(T_Address, (PyTypeObject *)Py_NewRef(address));
    Py_XSETREF(T_Envelope, (PyTypeObject *)Py_NewRef(env));
    Py_XSETREF(T_Disposition, (PyTypeObject *)Py_NewRef(disp));
    Py_XSETREF(T_BodyPart, (PyTypeObject *)Py_NewRef(part));
    Py_XSETREF(T_Multipart, (PyTypeObject *)Py_NewRef(multi));
    Py_XSETREF(item_kinds, Py_NewRef(kinds));
    Py_XSETREF(handlers, Py_NewRef(hand));
    Py_XSETREF(sections, Py_NewRef(sect));
    Py_XSETREF(flag_cache, Py_NewRef(cache));
    Py_XSETREF(flags_func, Py_NewRef(ffunc));
    items_configured = 1;
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------------- */

static PyMethodDef speedups_methods[] = {
    {"lex_fetch_batch", lex_fetch_batch, METH_VARARGS,
     "lex_fetch_batch(texts, literals, max_depth) -> list | None\n\n"
     "Same as pipeimap.protocol._fetch_batch.lex_fetch_batch."},
    {"lex_tokens", lex_tokens, METH_VARARGS,
     "lex_tokens(parts, max_depth, partial) -> list | None\n\n"
     "The token loop of pipeimap.protocol._lexer.lex; None where it would raise."},
    {"fetch_items", fetch_items, METH_O,
     "fetch_items(tree) -> dict | None\n\n"
     "The dict of pipeimap.protocol._parse_fetch.convert_msg_att(tree); None where\n"
     "the Python conversion must run (unusual values, names to normalize, errors)."},
    {"configure_items", configure_items, METH_VARARGS,
     "configure_items(UID, Address, Envelope, Disposition, BodyPart, MultipartBody,\n"
     "                kinds, handlers, sections, flag_cache, flags) -> None\n\n"
     "The types and tables fetch_items uses (called once by _accel.py)."},
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
