"""Local, Docker-free emulator of this SAM application, built on moto."""
