"""Workers: a job queue in the database that resumes conversations and delivers webhooks."""
