# Turns one --help text (stdin) into a man page. Variables: name, section, version, date,
# summary (the NAME line), see_also. The layout rules follow how ccrfs writes its help:
#   "usage: ..." and the lines indented 7+ under it       SYNOPSIS (kept as written)
#   an unindented line ending in ":"                      a subsection heading
#   an indented line starting with "-"                    an option: term, two spaces, text
#   an indented "word  text" line                         an item of a list (the commands)
#   a deeper indented line after an option                more text for that option
#   an indented "name=VALUE  text" line under an option   a sub-option of it
#   anything else                                         running text
function esc(s) {
  gsub(/\\/, "\\e", s)
  gsub(/-/, "\\-", s)
  if (s ~ /^[.']/) s = "\\&" s
  return s
}
function indent_of(s) { match(s, /^ */); return RLENGTH }
function trim(s) { sub(/^ +/, "", s); sub(/ +$/, "", s); return s }
function flush_pending() {
  if (pending != "") { print ".TP"; print "\\fI" esc(pending) "\\fR"; pending = "" }
}
function close_sub() { flush_pending(); if (in_sub) { print ".RE"; in_sub = 0 } }
function close_item() { close_sub(); if (in_item) { in_item = 0; need_pp = 1 } }
# Splits "  term  text" at the first gap of two or more spaces.
function split_term(s,    i) {
  s = trim(s)
  if (match(s, /  +/)) { term = substr(s, 1, RSTART - 1); text = substr(s, RSTART + RLENGTH) }
  else { term = s; text = "" }
}
BEGIN {
  printf ".\\\" Generated from the program's --help text by packaging/gen-man.sh; do not edit.\n"
  printf ".TH %s %s \"%s\" \"ccrfs %s\" \"ccrfs manual\"\n", toupper(esc(name)), section, date, version
  print ".SH NAME"
  print esc(name) " \\- " esc(summary)
  state = "start"
}
state == "start" && /^usage: / {
  print ".SH SYNOPSIS"
  print ".nf"
  line = $0; sub(/^usage: /, "", line)
  print esc(line)
  state = "usage"
  next
}
state == "usage" && /^       / {
  line = $0; sub(/^       /, "", line)
  print esc(line)
  next
}
state == "usage" || state == "start" {
  if (state == "usage") print ".fi"
  print ".SH DESCRIPTION"
  state = "body"
}
state == "body" {
  if ($0 ~ /^ *$/) { close_item(); need_pp = 1; next }
  ind = indent_of($0)
  if (ind == 0 && $0 ~ /:$/ && length($0) < 70) {
    close_item(); need_pp = 0
    h = $0; sub(/:$/, "", h)
    print ".SS " esc(h)
    next
  }
  # A line of running text may start with an option name ("  --key, checkpoints must ..."):
  # an option's name is short and is no sentence.
  split_term($0)
  # "  NAME     text" in a list of commands is an item as well.
  if ((ind >= 2 && substr($0, ind + 1, 1) == "-" &&
       (text != "" || (length(term) <= 60 && term !~ /[.;:] /))) ||
      (ind >= 2 && (!in_item || ind <= item_indent) && text != "" && term ~ /^[a-z][a-z0-9-]*$/)) {
    close_item()
    print ".TP"
    print "\\fB" esc(term) "\\fR"
    if (text != "") print esc(text)
    in_item = 1; item_indent = ind; need_pp = 0
    next
  }
  if (in_item && ind > item_indent) {
    split_term($0)
    if (ind < 10 && text != "" && term ~ /^[a-z_]+[=,]|^[a-z_]+$/) {
      if (!in_sub) { print ".RS"; in_sub = 1 }
      if (pending != "") { term = pending " " term; pending = "" }
      print ".TP"
      print "\\fI" esc(term) "\\fR"
      print esc(text)
      next
    }
    # A sub-option list spanning lines: its names gather until the line that has the text.
    if (in_sub && ind < 10) {
      pending = pending (pending == "" ? "" : " ") trim($0)
      next
    }
    print esc(trim($0))
    next
  }
  close_item()
  # "serve: ...", "verify: ...": each subcommand's text is its own paragraph.
  if (ind == 0 && $0 ~ /^[a-z][a-z-]*: /) need_pp = 1
  if (need_pp) { print ".PP"; need_pp = 0 }
  print esc(ind > 0 ? trim($0) : $0)
}
END {
  close_item()
  if (state == "usage") print ".fi"
  if (see_also != "") {
    print ".SH SEE ALSO"
    n = split(see_also, refs, " ")
    out = ""
    for (i = 1; i <= n; i++) {
      r = refs[i]
      if (r == name "(" section ")") continue
      p = index(r, "(")
      out = out (out == "" ? "" : ",\n") "\\fB" esc(substr(r, 1, p - 1)) "\\fR" substr(r, p)
    }
    print out
  }
}
