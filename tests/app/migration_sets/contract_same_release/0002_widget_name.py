from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("documents", "0001_initial")]
    operations = [migrations.AddField("widget", "name", models.CharField(max_length=100, null=True))]
