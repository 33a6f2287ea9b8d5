# nginx as the origin server of a test, in its topology's namespace "origin"
# (test_activecdn.sh, test_media.sh). Needs tap.sh, topo.sh and wait.sh, and
# $WORK, $ORIGIN (the address it listens on, port 8000) and $WWW (its root);
# its files go under $WORK/nginx.

# nginx_origin_conf LOCATIONS [HTTP-LINES]: writes $WORK/nginx.conf: one
# worker, logs and temporary files under $WORK/nginx, the given extra lines
# in the http block, and one server on $ORIGIN:8000 serving $WWW with the
# given location lines.
nginx_origin_conf() {
	mkdir -p "$WORK/nginx"
	cat >"$WORK/nginx.conf" <<EOC
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
user nobody nogroup;
events { worker_connections 256; }
http {
	access_log $WORK/nginx/access.log;
	client_body_temp_path $WORK/nginx/body;
	proxy_temp_path $WORK/nginx/proxy;
	fastcgi_temp_path $WORK/nginx/fastcgi;
	uwsgi_temp_path $WORK/nginx/uwsgi;
	scgi_temp_path $WORK/nginx/scgi;
	${2:-}
	default_type application/octet-stream;
	server {
		listen $ORIGIN:8000;
		root $WWW;
		$1
	}
}
EOC
}

# nginx_origin_start PATH: starts nginx (its pid in NPID) and waits until
# origin_up (a GET of PATH from the router) succeeds; then forgets that
# request in the access log.
# Returns 1 after reporting "not ok" with nginx's errors if it does not.
nginx_origin_start() {
	topo_exec origin nginx -c "$WORK/nginx.conf" -e "$WORK/nginx/error.log" \
		>"$WORK/nginx/out" 2>&1 &
	NPID=$!
	NGINX_PROBE=$1
	# origin_up: whether the origin answers the probe (the tests use it again)
	origin_up() { topo_exec router curl -s -m 1 -o /dev/null "http://$ORIGIN:8000$NGINX_PROBE"; }
	if ! wait_until 10 origin_up; then
		not_ok "nginx serves in the origin"
		sed 's/^/#   /' "$WORK/nginx/out" "$WORK/nginx/error.log" 2>/dev/null | tail -20
		return 1
	fi
	: >"$WORK/nginx/access.log"
}
