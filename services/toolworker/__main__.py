from services.toolworker.server import run

run()
