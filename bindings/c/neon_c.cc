namespace neon {}
