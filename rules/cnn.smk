# cnn stage: rules arrive with their issue (see README 'Roadmap').
