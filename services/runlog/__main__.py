from services.runlog.server import run

run()
