from services.scheduler.server import run

run()
