# Helpers for the fetch tests: a test PKI made with openssl (nothing that expires is checked
# in), a private nginx serving HTTPS on 127.0.0.1 from a temporary prefix, tinyproxy, and
# signed bundles and feeds made with dfu-mgr itself. Sources tests/cli/lib.sh, unless a test bed
# that already did (tests/vm/lib.sh, with its $T) sourced it first.
declare -F finish >/dev/null || . "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"

# exit 77: ctest reports the test as skipped (SKIP_RETURN_CODE)
need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || { echo "SKIP: $1 is not installed (scripts/install-deps.sh)"; exit 77; }; }
need openssl
need nginx
need python3
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# the tests decide about proxies themselves
unset http_proxy https_proxy HTTPS_PROXY ALL_PROXY all_proxy no_proxy NO_PROXY

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# make_pki: $T/pki/ca.pem (trusted), server.{pem,key} for 127.0.0.1 and localhost,
# other-ca.pem + rogue.{pem,key} (a server cert from a CA nobody trusts), and
# wrongname.{pem,key} (from the trusted CA, for another host name)
make_pki() {
	local d=$T/pki
	mkdir -p "$d"
	(
		cd "$d"
		for ca in ca other-ca; do
			openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
				-subj "/CN=dfu-mgr test $ca" -keyout $ca.key -out $ca.pem \
				-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
		done
		issue() { # issue NAME CA SAN
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
				-keyout "$1.key" -out "$1.csr" 2>/dev/null
			printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$3" >"$1.ext"
			openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 \
				-extfile "$1.ext" -out "$1.pem" 2>/dev/null
		}
		issue server ca "IP:127.0.0.1,DNS:localhost"
		issue rogue other-ca "IP:127.0.0.1,DNS:localhost"
		issue wrongname ca "DNS:updates.example.invalid"
	)
	[ -s "$d/server.pem" ] && [ -s "$d/rogue.pem" ] && [ -s "$d/wrongname.pem" ] || { echo "FAIL: openssl could not make the test PKI"; exit 1; }
}

# nginx_start: serves $T/www on https://127.0.0.1:$PORT/ (and /slow/, /stall/, /gz/, /e500/,
# /e503/, redirects from /old/ to /new/ and from /tohttp/ to http://), the same content with an untrusted certificate on $BADPORT, with a certificate for
# another name on $NAMEPORT. Access log: $T/nginx/access.log, fields separated by '|':
# method|uri|status|range|body bytes sent|if-none-match|if-modified-since|content-range|
# content-encoding|server port
NGINX_PID=""
PORT=${PORT:-$(free_port)}
BADPORT=${BADPORT:-$(free_port)}
NAMEPORT=${NAMEPORT:-$(free_port)}
SLOW_RATE=${SLOW_RATE:-256k}
nginx_config() {
	local n=$T/nginx user=""
	mkdir -p "$n" "$T/www"
	# workers would run as nobody and not see the private temp dir
	[ "$(id -u)" -eq 0 ] && user="user root root;"
	cat >"$n/nginx.conf" <<CONF
$user
daemon off;
master_process off;
worker_processes 1;
pid $n/nginx.pid;
error_log $n/error.log info;
events { worker_connections 64; }
http {
	types { application/json json; application/octet-stream bin sig; }
	default_type application/octet-stream;
	client_body_temp_path $n/body;
	proxy_temp_path $n/proxy;
	fastcgi_temp_path $n/fastcgi;
	uwsgi_temp_path $n/uwsgi;
	scgi_temp_path $n/scgi;
	log_format t '\$request_method|\$uri|\$status|\$http_range|\$body_bytes_sent|\$http_if_none_match|\$http_if_modified_since|\$sent_http_content_range|\$sent_http_content_encoding|\$server_port';
	access_log $n/access.log t;
	sendfile on;
	keepalive_timeout 30;
	ssl_protocols TLSv1.2 TLSv1.3;
	server {
		listen 127.0.0.1:$PORT ssl;
		ssl_certificate $T/pki/server.pem;
		ssl_certificate_key $T/pki/server.key;
		root $T/www;
		location /slow/ { alias $T/www/; limit_rate $SLOW_RATE; }
		location /stall/ { alias $T/www/; limit_rate 20; }
		location /gz/ { alias $T/www/; gzip on; gzip_types application/json; gzip_min_length 1; }
		location /e500/ { return 500; }
		location /e503/ { add_header Retry-After 1 always; return 503; }
		location /old/ { rewrite ^/old/(.*)\$ /new/\$1 permanent; }
		location /tohttp/ { return 301 http://127.0.0.1:$PORT/feed.json; }
	}
	server {
		listen 127.0.0.1:$BADPORT ssl;
		ssl_certificate $T/pki/rogue.pem;
		ssl_certificate_key $T/pki/rogue.key;
		root $T/www;
	}
	server {
		listen 127.0.0.1:$NAMEPORT ssl;
		ssl_certificate $T/pki/wrongname.pem;
		ssl_certificate_key $T/pki/wrongname.key;
		root $T/www;
	}
}
CONF
}
nginx_start() {
	[ -f "$T/nginx/nginx.conf" ] || nginx_config
	"$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log" &
	NGINX_PID=$!
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
		kill -0 "$NGINX_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "FAIL: nginx did not start"; cat "$T/nginx/error.log"; exit 1
}
# nginx_stop [SIGNAL]: SIGKILL cuts every connection at once, like a server that died
nginx_stop() {
	[ -n "$NGINX_PID" ] || return 0
	kill -"${1:-TERM}" "$NGINX_PID" 2>/dev/null
	wait "$NGINX_PID" 2>/dev/null
	NGINX_PID=""
}
# access log lines for a URI (exact match of the uri field)
log_of() { awk -F'|' -v u="$1" '$2 == u' "$T/nginx/access.log"; }
# field N (1-based, see above) of the last log line for a URI
log_field() { log_of "$1" | tail -1 | cut -d'|' -f"$2"; }
# json FILE-OR-- EXPR: evaluates a Python expression on the parsed JSON (j)
json() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1]) if sys.argv[1] != "-" else sys.stdin); print(eval(sys.argv[2]))' "$@"; }

# tinyproxy on 127.0.0.1:$PROXYPORT, log in $T/tinyproxy.log
TINYPROXY_PID=""
tinyproxy_start() {
	need tinyproxy
	local tp
	tp=$(command -v tinyproxy || echo /usr/sbin/tinyproxy)
	PROXYPORT=$(free_port)
	cat >"$T/tinyproxy.conf" <<CONF
Port $PROXYPORT
Listen 127.0.0.1
Timeout 60
LogFile "$T/tinyproxy.log"
LogLevel Connect
MaxClients 16
Allow 127.0.0.1
CONF
	[ "$(id -u)" -eq 0 ] && printf 'User root\nGroup root\n' >>"$T/tinyproxy.conf"
	"$tp" -d -c "$T/tinyproxy.conf" >"$T/tinyproxy.out" 2>&1 &
	TINYPROXY_PID=$!
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$PROXYPORT") 2>/dev/null; then return 0; fi
		sleep 0.05
	done
	echo "FAIL: tinyproxy did not start"; cat "$T/tinyproxy.out"; exit 1
}
tinyproxy_stop() {
	[ -n "$TINYPROXY_PID" ] || return 0
	kill "$TINYPROXY_PID" 2>/dev/null
	wait "$TINYPROXY_PID" 2>/dev/null
	TINYPROXY_PID=""
}

cleanup_servers() { nginx_stop KILL; tinyproxy_stop; rm -rf "$T"; }
trap cleanup_servers EXIT

# make_bundle DIR VERSION [QSPI_BYTES]: a bundle signed with key A: the vector ELF split by
# pack, or (with QSPI_BYTES) raw payloads with a random QSPI image of that size
make_bundle() {
	if [ -n "${3:-}" ]; then
		head -c "$3" /dev/urandom >"$T/qspi-payload.bin"
		# a slot with room for the image (the benchmark goes beyond the nRF5340's 3.4 MiB)
		"$DFUMGR" pack --version "$2" --no-dependency --key "$D/key-A.pem" -o "$1" \
			--slot-size1 $(($3 + 0x20000 > 0x370000 ? $3 + 0x20000 : 0x370000)) \
			--internal "$D/payload-int.bin" --qspi "$T/qspi-payload.bin" >/dev/null
	else
		"$DFUMGR" pack --version "$2" --key "$D/key-A.pem" -o "$1" "$D/app.elf" >/dev/null
	fi || { echo "FAIL: pack $1"; exit 1; }
}

# fetch ARGS...: dfu-mgr fetch with the test CA and key A, quick retries
fetch() {
	run fetch --cacert "$T/pki/ca.pem" --key "$D/key-A-pub.pem" --retry-wait 0.2 --retry-wait-max 1 "$@"
}
