"""Market information: per county, category family and month, demand against supply, how much
of it was matched and how fast, prices where stated, and shortage or glut signals."""
