# Sourced by scripts/load.sh, benchmarks/cost.sh and benchmarks/floor.sh: the nginx
# configurations they run, above all the static loopback upstream they measure against, so that
# all of them see the same bytes.
#
#   write_nginx_conf DIR NAME [MAIN_DIRECTIVES] < HTTP_BLOCK
# writes DIR/NAME.conf: one foreground worker, its pid and error log in DIR, no access log,
# unlimited keep-alive requests, and the http block's servers read from standard input.
write_nginx_conf() {
  local dir=$1 name=$2 main=${3:-}
  {
    printf 'worker_processes 1;\ndaemon off;\n%s' "$main"
    printf 'pid %s/%s.pid;\nerror_log %s/%s-error.log;\nevents { worker_connections 8192; }\n' "$dir" "$name" "$dir" "$name"
    printf 'http {\n  access_log off;\n  keepalive_requests 1000000;\n'
    cat
    printf '}\n'
  } > "$dir/$name.conf"
}

#   write_static_upstream DIR JSON_PORT SSE_PORT
# writes DIR/stream.sse (an OpenAI stream of 42 events: role, 40 content chunks, finish,
# [DONE]), DIR/messages.sse (the same answer as a Messages stream of 46 events: message_start,
# content_block_start, ping, 40 text deltas, content_block_stop, message_delta, message_stop)
# and DIR/upstream.conf: one nginx worker answering POST /v1/chat/completions (OpenAI) and
# /v1/messages (Anthropic) with fixed JSON on JSON_PORT, and with the streams on SSE_PORT.
# Every answer says "Hello from the load upstream." (JSON) or ends with [DONE] or message_stop.
write_static_upstream() {
  local dir=$1 json_port=$2 sse_port=$3
  {
    printf 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
    for i in $(seq 1 40); do
      printf 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" token%d"},"finish_reason":null}]}\n\n' "$i"
    done
    printf 'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    printf 'data: [DONE]\n\n'
  } > "$dir/stream.sse"
  {
    printf 'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_load","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}\n\n'
    printf 'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    printf 'event: ping\ndata: {"type":"ping"}\n\n'
    for i in $(seq 1 40); do
      printf 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token%d"}}\n\n' "$i"
    done
    printf 'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    printf 'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":40}}\n\n'
    printf 'event: message_stop\ndata: {"type":"message_stop"}\n\n'
  } > "$dir/messages.sse"
  local plain='{"id":"chatcmpl-load","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the load upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":6,"total_tokens":15}}'
  local message='{"id":"msg_load","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hello from the load upstream."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":6}}'
  write_nginx_conf "$dir" upstream <<CONF
  server {
    listen 127.0.0.1:$json_port reuseport;
    location = /v1/chat/completions { default_type application/json; return 200 '$plain'; }
    location = /v1/messages { default_type application/json; return 200 '$message'; }
  }
  server {
    listen 127.0.0.1:$sse_port reuseport;
    # POSTs cannot be served from a file directly: the 405 redirects (as a GET) to the stream.
    location = /v1/chat/completions { error_page 405 =200 /stream.sse; return 405; }
    location = /v1/messages { error_page 405 =200 /messages.sse; return 405; }
    location = /stream.sse { internal; root $dir; default_type text/event-stream; }
    location = /messages.sse { internal; root $dir; default_type text/event-stream; }
  }
CONF
}

#   write_nginx_proxy DIR JSON_PORT SSE_PORT
# writes DIR/proxy.conf: nginx as a plain reverse proxy with upstream keep-alive and no
# buffering, JSON_PORT+1 -> JSON_PORT and SSE_PORT+1 -> SSE_PORT.
write_nginx_proxy() {
  local dir=$1 json_port=$2 sse_port=$3
  write_nginx_conf "$dir" proxy <<CONF
  upstream plain { server 127.0.0.1:$json_port; keepalive 64; }
  upstream stream { server 127.0.0.1:$sse_port; keepalive 64; }
  server {
    listen 127.0.0.1:$((json_port + 1)) reuseport;
    location / { proxy_pass http://plain; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
  server {
    listen 127.0.0.1:$((sse_port + 1)) reuseport;
    location / { proxy_pass http://stream; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
CONF
}
