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
# The CDN shared secret (reader auth.cdn): sent to every reader in the header WELLSPRING_CDN_HEADER when
# WELLSPRING_CDN_SECRET is set. A VCL string: letters, digits and . _ ~ + / = - only.
header=${WELLSPRING_CDN_HEADER:-X-Wellspring-CDN-Secret}
secret=${WELLSPRING_CDN_SECRET:-}
case "$header" in *[!A-Za-z0-9-]*|"") echo "render-vcl.sh: bad WELLSPRING_CDN_HEADER" >&2; exit 1 ;; esac
case "$secret" in *[!A-Za-z0-9._~+/=-]*) echo "render-vcl.sh: WELLSPRING_CDN_SECRET has characters VCL cannot hold" >&2; exit 1 ;; esac
secretset=""
[ -n "$secret" ] && secretset="    set bereq.http.$header = \"$secret\";"
awk -v b="$backends" -v a="$adds" -v h="$header" -v s="$secretset" '{ gsub(/\$\{BACKENDS\}/, b); gsub(/\$\{DIRECTOR\}/, a); gsub(/\$\{CDN_HEADER\}/, h); gsub(/\$\{CDN_SECRET_SET\}/, s); print }' "$template"
