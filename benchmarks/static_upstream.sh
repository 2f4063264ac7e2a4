# Sourced by scripts/load.sh and benchmarks/cost.sh: the static loopback upstream both measure
# against, so that both see the same bytes.
#   write_static_upstream DIR JSON_PORT SSE_PORT
# writes DIR/stream.sse (an OpenAI stream of 42 events: role, 40 content chunks, finish,
# [DONE]) and DIR/upstream.conf: one nginx worker answering POST /v1/chat/completions (OpenAI)
# and /v1/messages (Anthropic) with fixed JSON on JSON_PORT, and the stream on SSE_PORT.
# Every answer says "Hello from the load upstream." (JSON) or ends with [DONE] (stream).
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
  local plain='{"id":"chatcmpl-load","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the load upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":6,"total_tokens":15}}'
  local message='{"id":"msg_load","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hello from the load upstream."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":6}}'
  cat > "$dir/upstream.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/upstream.pid;
error_log $dir/upstream-error.log;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$json_port reuseport;
    location = /v1/chat/completions { default_type application/json; return 200 '$plain'; }
    location = /v1/messages { default_type application/json; return 200 '$message'; }
  }
  server {
    listen 127.0.0.1:$sse_port reuseport;
    # POSTs cannot be served from a file directly: the 405 redirects (as a GET) to the stream.
    location = /v1/chat/completions { error_page 405 =200 /stream.sse; return 405; }
    location = /stream.sse { internal; root $dir; default_type text/event-stream; }
  }
}
CONF
}
