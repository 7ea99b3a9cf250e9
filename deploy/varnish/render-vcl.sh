#!/bin/sh
# Renders wellspring.vcl.template with one backend per reader.
#   WELLSPRING_READERS="reader-1:8080 reader-2:8080" sh render-vcl.sh wellspring.vcl.template > default.vcl
set -eu
template=${1:?usage: render-vcl.sh TEMPLATE}
backends=""
adds=""
i=0
for r in ${WELLSPRING_READERS:?set WELLSPRING_READERS to "host:port host:port ..."}; do
  host=${r%:*}
  port=${r##*:}
  # \n is expanded by awk below; held requests (blocking reloads, in-progress segments) wait up to 30 s.
  # Each reader is probed (reader_health in the template) so a dead one leaves the rotation within ~0.5 s.
  backends="${backends}backend r$i { .host = \"$host\"; .port = \"$port\"; .connect_timeout = 1s; .first_byte_timeout = 30s; .between_bytes_timeout = 10s; .probe = reader_health; }\n"
  adds="${adds}    readers.add_backend(r$i);\n"
  i=$((i + 1))
done
awk -v b="$backends" -v a="$adds" '{ gsub(/\$\{BACKENDS\}/, b); gsub(/\$\{DIRECTOR\}/, a); print }' "$template"
