import app
app.main()
