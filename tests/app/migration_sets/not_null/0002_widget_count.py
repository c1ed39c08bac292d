from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("documents", "0001_initial")]
    operations = [migrations.AddField("widget", "count", models.IntegerField(default=0))]
