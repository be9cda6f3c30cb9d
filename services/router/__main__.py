from services.router.server import run

run()
