"""moto server, with its requests handled one at a time.

moto 5 serves requests on threads and its DynamoDB backend checks a ConditionExpression and then writes
without a lock, so two concurrent conditional writes on one item can both land. Real DynamoDB never lets
that happen (a conditional write is atomic per item), and the cache's lease protocol depends on it. This is
`moto_server` (same application, same arguments `-H HOST -p PORT`) with one lock around each request, so
moto is as atomic as the service it stands for. Connections are still accepted on threads.
"""

import argparse
import threading

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args()

    application = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            # The whole answer is produced inside the lock: the backend's work happens while iterating.
            return [b"".join(application(environ, start_response))]

    run_simple(args.host, args.port, serialized, threaded=True)


if __name__ == "__main__":
    main()
